"""Users, the organizations they belong to, and their roles there."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who logs in. A custom model from day one, so it can grow."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # Log-in by e-mail must find exactly one person.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="user_email_unique_ci",
            ),
        ]


class Organization(models.Model):
    """A tenant: it owns nodes and sites and has members."""

    name = models.CharField(max_length=50, unique=True)
    description = models.TextField(blank=True, default="")
    users = models.ManyToManyField(
        User, through="Membership", related_name="organizations", blank=True
    )
    notify_fidelity = models.BooleanField(
        default=True, help_text=_("E-mail the owners when a node stops or resumes reporting.")
    )
    alive_period_s = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Seconds without a sample before a node counts as missing; empty: server default."),
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(alive_period_s__isnull=True) | models.Q(alive_period_s__gte=60),
                name="organization_alive_period_at_least_a_minute",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in one organization."""

    class Role(models.TextChoices):
        OWNER = "O", _("owner")
        INSPECTOR = "I", _("inspector")

    role = models.CharField(max_length=1, choices=Role.choices, default=Role.INSPECTOR)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )

    class Meta:
        ordering = ["organization__name", "role", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_unique_user_organization"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=["O", "I"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) in {self.organization}"

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER
