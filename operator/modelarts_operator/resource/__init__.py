"""The ModelArtsPool custom resource: names, spec and status models, and the CRD generated from them."""
