"""The admin for users and their memberships (organizations: core/admin/organizations.py,
which can count their nodes and sites)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from managair.admin_inlines import LabelledAutocompleteInline
from user_manager.models import Membership, User


class MembershipOfUserInline(LabelledAutocompleteInline):
    model = Membership
    fields = ("organization", "role")
    autocomplete_fields = ("organization",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    inlines = (MembershipOfUserInline,)
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "usable_password", "password1", "password2"),
            },
        ),
    )

    def get_inlines(self, request, obj):
        # Like Django's two-step user creation: account first, then the rest.
        return self.inlines if obj is not None else ()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "email", "organization", "role")
    list_select_related = ("user", "organization")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email", "organization__name")
    autocomplete_fields = ("user", "organization")

    def get_queryset(self, request):
        # A membership's name includes its user's and organization's, so
        # autocomplete answers need the joins too (and Django ignores
        # list_select_related once one is set).
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(ordering="user__email")
    def email(self, membership):
        return membership.user.email
