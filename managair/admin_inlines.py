"""Inlines whose autocomplete boxes cost no query per row.

Django's autocomplete widget looks up the object it currently shows with one
query per form, so a room with fifty installations would take fifty queries
to render. Here the formset hands each widget the label of the object its
form's instance already holds (the inline's queryset selects it).
"""

from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.forms.models import BaseInlineFormSet


class LabelledAutocompleteSelect(AutocompleteSelect):
    # Current value -> label, filled per form by LabelledFormSet.
    labels: dict[str, str] = {}

    def optgroups(self, name, value, attr=None):
        chosen = [str(v) for v in value if str(v) not in self.choices.field.empty_values]
        if any(v not in self.labels for v in chosen):
            # A value posted back that differs from the instance's.
            return super().optgroups(name, value, attr)
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        for v in chosen:
            options.append(self.create_option(name, v, self.labels[v], True, len(options)))
        return [(None, options, 0)]


class LabelledFormSet(BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        # Rows show their name, which may include the parent's (an
        # installation's names its room): hand them the parent already loaded.
        setattr(form.instance, self.fk.name, self.instance)
        for name, field in form.fields.items():
            widget = getattr(field.widget, "widget", field.widget)  # inside RelatedFieldWidgetWrapper
            if not isinstance(widget, LabelledAutocompleteSelect):
                continue
            model_field = form.instance._meta.get_field(name)
            if model_field.is_cached(form.instance):
                related = getattr(form.instance, name)
                if related is not None:
                    widget.labels = {str(related.pk): field.label_from_instance(related)}
        return form


class LabelledAutocompleteInline(admin.TabularInline):
    """A tabular inline for rows whose foreign keys are autocomplete boxes.

    ``get_queryset`` must select the related objects those boxes show (by
    default: the autocomplete fields themselves)."""

    formset = LabelledFormSet
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget", LabelledAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.get_autocomplete_fields(request))
