"""The kopf side of the operator: watching, indices, one worker per object, the Kubernetes and cloud plumbing.

Layers point one way: ``handlers`` (kopf) → ``worker``/``projects`` → ``reconcile`` (plain logic) → ``modelarts``
(the client).
"""
