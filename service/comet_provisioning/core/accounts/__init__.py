"""The account lifecycle: provisioning as a resumable reconcile, and the module commands."""
