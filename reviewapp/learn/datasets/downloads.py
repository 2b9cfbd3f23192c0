"""Handing out a release's file once ``dataset_export_download`` allowed and audited it."""

from django.conf import settings
from django.http import FileResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

from reviewapp.core.files import exports_storage, file_presigned_url, file_stream
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.learn.datasets.services import file_name


def export_file_response(export: DatasetExport, name: str) -> HttpResponseBase:
    """The file streamed from the storage through the app, or a redirect to a presigned URL of
    the object store that expires in minutes (REVIEWAPP_PRESIGNED_DOWNLOADS)."""
    storage = exports_storage()
    download_as = file_name(name)
    if settings.REVIEWAPP_PRESIGNED_DOWNLOADS:
        return HttpResponseRedirect(
            file_presigned_url(
                storage,
                name,
                download_as=download_as,
                seconds=settings.REVIEWAPP_PRESIGNED_DOWNLOAD_SECONDS,
            )
        )
    response = FileResponse(file_stream(storage, name), as_attachment=True, filename=download_as)
    if export.size_bytes is not None and not response.has_header("Content-Length"):
        # An object store's body has no size of its own; the build recorded it.
        response["Content-Length"] = str(export.size_bytes)
    return response
