"""Handing out a release's file once ``dataset_export_download`` allowed and audited it."""

from django.conf import settings
from django.http import FileResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

from reviewapp.core.files import exports_storage, file_presigned_url, file_stream
from reviewapp.learn.datasets.models import ReleaseFile


def export_file_response(release_file: ReleaseFile) -> HttpResponseBase:
    """The file streamed from the storage through the app, or a redirect to a presigned URL of
    the object store that expires in minutes (REVIEWAPP_PRESIGNED_DOWNLOADS). Either way it is
    saved under its release name (``invoices-v3-verified.jsonl``)."""
    storage = exports_storage()
    if settings.REVIEWAPP_PRESIGNED_DOWNLOADS:
        return HttpResponseRedirect(
            file_presigned_url(
                storage,
                release_file.path,
                download_as=release_file.download_name,
                seconds=settings.REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS,
            )
        )
    response = FileResponse(
        file_stream(storage, release_file.path),
        as_attachment=True,
        filename=release_file.download_name,
    )
    if not response.has_header("Content-Length"):
        # An object store's body has no size of its own; the build recorded it.
        response["Content-Length"] = str(release_file.size_bytes)
    return response
