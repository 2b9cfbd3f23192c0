from django.urls import path

from reviewapp.core.audit import views as audit_views

urlpatterns = [
    path("audit/", audit_views.audit_list, name="audit-list"),
]
