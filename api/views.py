"""The API's endpoints: transport only. Parameters are validated here, reads go through api.selectors.

Every endpoint is staff-only (IsAdminUser, from settings.REST_FRAMEWORK) and read-only: no token, 401; a
token or login that is not staff, 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.http.response import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api import selectors
from api.serializers import (
    FlagFilterParams,
    FlagSerializer,
    SessionFilterParams,
    SessionSerializer,
    TaskFilterParams,
    TaskSerializer,
    TaskStatisticsSerializer,
)
from baselining.exports import DOWNLOADS, INSPECT_ZIP, export_lines
from baselining.forms import ExportFilterForm
from config.streaming import download

ERR_UNKNOWN_PARAMETER = "unknown parameter: this endpoint takes {allowed}"
ERR_UNKNOWN_EXPORT = "unknown export {name!r}: one of {names}"


class Pagination(LimitOffsetPagination):
    """?limit=&offset= with 100 rows by default; large pages are allowed, unbounded ones are not."""

    default_limit = 100
    max_limit = 1000


PAGINATION_PARAMETERS = {"limit", "offset"}


def reject_unknown(request: Request, allowed: Iterable[str]) -> None:
    """A misspelt filter must not silently return everything: 400 naming it and the accepted ones."""
    allowed = set(allowed)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        message = ERR_UNKNOWN_PARAMETER.format(allowed=", ".join(sorted(allowed)) or "none")
        raise ValidationError({name: [message] for name in unknown})


def validated_params(request: Request, params: type[serializers.Serializer]) -> dict[str, Any]:
    reject_unknown(request, {*params().fields, *PAGINATION_PARAMETERS})
    validator = params(data=request.query_params)
    validator.is_valid(raise_exception=True)
    return dict(validator.validated_data)


class FilteredListView(generics.ListAPIView):
    """A paginated list whose query parameters `params` validates and whose rows `select` reads."""

    pagination_class = Pagination
    params: type[serializers.Serializer]

    def select(self, **filters: Any) -> Any:
        raise NotImplementedError

    def get_queryset(self) -> Any:
        return self.select(**validated_params(self.request, self.params))


class DetailView(generics.RetrieveAPIView):
    """One object; it takes no query parameters, so any is a mistake worth a 400."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reject_unknown(request, ())
        return super().get(request, *args, **kwargs)


@extend_schema(parameters=[TaskFilterParams])
class TaskList(FilteredListView):
    """Tasks in catalogue order, with their latest version's number, estimate and needs."""

    serializer_class = TaskSerializer
    params = TaskFilterParams

    def select(self, **filters: Any) -> Any:
        return selectors.task_list(**filters)


class TaskDetail(DetailView):
    """One task by its task_id, family/name."""

    serializer_class = TaskSerializer

    def get_object(self) -> Any:
        task = (
            selectors.task_list().filter(family__name=self.kwargs["family"], name=self.kwargs["name"]).first()
        )
        if task is None:
            raise NotFound(f"no task {self.kwargs['family']}/{self.kwargs['name']}")
        return task


@extend_schema(parameters=[SessionFilterParams])
class SessionList(FilteredListView):
    """Baseline and QA sessions, oldest first; contractors appear by pseudonym only."""

    serializer_class = SessionSerializer
    params = SessionFilterParams

    def select(self, **filters: Any) -> Any:
        return selectors.session_list(**filters)


class SessionDetail(DetailView):
    serializer_class = SessionSerializer

    def get_queryset(self) -> Any:
        return selectors.session_list()


@extend_schema(parameters=[FlagFilterParams])
class FlagList(FilteredListView):
    """Task flags, oldest first: the facts of flags.csv, reporters by pseudonym."""

    serializer_class = FlagSerializer
    params = FlagFilterParams

    def select(self, **filters: Any) -> Any:
        return selectors.flag_list(**filters)


class FlagDetail(DetailView):
    serializer_class = FlagSerializer

    def get_queryset(self) -> Any:
        return selectors.flag_list()


def export_filters(request: Request, *, also: Iterable[str] = ()) -> ExportFilterForm:
    """The staff export page's filters, validated by the same form: one meaning for both."""
    reject_unknown(request, {*ExportFilterForm.base_fields, *also})
    form = ExportFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError(
            {("non_field_errors" if k == "__all__" else k): v for k, v in form.errors.items()}
        )
    return form


def _form_parameters(form: type[forms.Form], descriptions: dict[str, str]) -> list[OpenApiParameter]:
    """OpenAPI query parameters read off a Django form, so the schema follows the form."""
    types = {forms.DateField: OpenApiTypes.DATE, forms.BooleanField: OpenApiTypes.BOOL}
    out = []
    for name, field in form.base_fields.items():
        choices = cast(list[tuple[Any, Any]], getattr(field, "choices", []))
        enum = [value for value, _label in choices if value] or None
        out.append(
            OpenApiParameter(
                name,
                types.get(type(field), OpenApiTypes.STR),
                OpenApiParameter.QUERY,
                description=descriptions.get(name) or str(field.help_text or name),
                enum=enum,
            )
        )
    return out


EXPORT_FILTER_PARAMETERS = _form_parameters(
    ExportFilterForm,
    {
        "family": "family name, exactly",
        "status": "the task's status",
        "since": "attempts that ended on or after this day, UTC (flags.csv: flags raised on or after)",
        "until": "... and on or before this day",
        "include_invalid": "true: also attempts staff marked invalid (statistics always leave them out)",
    },
)
ERROR = OpenApiResponse(description="a JSON object naming what is wrong")


@extend_schema(parameters=EXPORT_FILTER_PARAMETERS)
class StatisticsList(generics.ListAPIView):
    """Per-task statistics: the rows of tasks.csv as objects (NaN as null), filtered as the exports are."""

    serializer_class = TaskStatisticsSerializer
    pagination_class = Pagination

    def get_queryset(self) -> Any:
        return selectors.task_statistics_rows(
            export_filters(self.request, also=PAGINATION_PARAMETERS).filters()
        )


class IgnoreAcceptHeader(BaseContentNegotiation):
    """The exports are files, not renderings: answer with JSON errors whatever the client accepts."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0]

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> Any:
        return (renderers[0], renderers[0].media_type)


@extend_schema(
    parameters=[
        OpenApiParameter("name", str, OpenApiParameter.PATH, enum=DOWNLOADS, description="which export"),
        *EXPORT_FILTER_PARAMETERS,
    ],
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="tasks, baselines or flags CSV"),
        (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="METR runs, JSON Lines"),
        (200, "application/zip"): OpenApiResponse(
            OpenApiTypes.BINARY, description="inspect.zip: Inspect eval logs, one .eval per task"
        ),
        400: ERROR,
        404: ERROR,
    },
)
class ExportDownload(APIView):
    """One export file streamed as the staff exports page streams it (columns in docs/exports.md);
    inspect.zip is written whole first (a zip of Inspect eval logs), then sent."""

    content_negotiation_class = IgnoreAcceptHeader

    def get(self, request: Request, name: str) -> HttpResponseBase:
        if name not in DOWNLOADS:
            raise NotFound(ERR_UNKNOWN_EXPORT.format(name=name, names=", ".join(DOWNLOADS)))
        filters = export_filters(request).filters()
        base_url = request.build_absolute_uri("/").rstrip("/")
        if name == INSPECT_ZIP:
            from baselining.inspect_export import inspect_zip_response  # noqa: PLC0415  (inspect_ai: exports.py)

            return inspect_zip_response(filters, base_url)
        return download(export_lines(name, filters, base_url), name)


class Root(APIView):
    """`/api/`: where to start. Open to anyone (it holds no data): every endpoint, the OpenAPI schema, the
    interactive docs, and how to authenticate (a staff token: docs/api.md)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        def url(name: str, *args: str) -> str:
            return request.build_absolute_uri(reverse(f"api:{name}", args=args))

        return Response(
            {
                "docs": url("docs"),
                "schema": url("schema"),
                "authentication": "staff only: send 'Authorization: Token <key>' (python manage.py api_token "
                "<staff user>; docs/api.md), or be logged in as staff in this browser",
                "endpoints": {
                    "tasks": url("tasks"),
                    "sessions": url("sessions"),
                    "flags": url("flags"),
                    "statistics": url("statistics"),
                    "exports": {name: url("export", name) for name in DOWNLOADS},
                },
            }
        )
