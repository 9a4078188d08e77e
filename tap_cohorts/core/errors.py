"""Errors a run can end with. Every message names where it happened and never carries a secret."""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class VendorError(FatalAPIError):
    """The vendor refused a request or sent something the tap cannot use: the partition ends (and with
    `ends_vendor`, every partition of that vendor: a refused credential, an unreachable host)."""

    def __init__(
        self, message: str, *, ends_vendor: bool = False, vendor_down: bool = False, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.ends_vendor = ends_vendor
        self.status = status  # the vendor's HTTP status, when it answered with an error
        # The vendor's host failed (5xx, no answer) past the retries: named as down in the run's summary.
        self.vendor_down = vendor_down


class VendorNotAsked(VendorError):
    """A request not sent because its vendor ended earlier in the run."""


class RowCapReached(Exception):
    """A response holds exactly the vendor's row cap, so it may be truncated: the window must be split."""

    def __init__(self, rows: int) -> None:
        super().__init__(f"response reached the row cap ({rows} rows)")
        self.rows = rows


class MalformedBody(Exception):
    """A response body that cannot be read whole (cut short, not the format it claims): asked again."""
