"""Read-only commands for the people who run the operator: ``probe`` (is this ModelArts account's API what the
operator expects?) and ``audit`` (which billed pools does no object manage?). Nothing here writes to the cloud,
and the operator itself never imports this package."""
