"""``rules/checklist.yaml``: the account-plan questions in eight categories."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from kam_sync.canonical import CHECKLIST_CATEGORIES
from kam_sync.config.rule_spec.base import Issue, RuleModel
from kam_sync.config.suggest import did_you_mean


class Question(RuleModel):
    """One question. Answered by ``evidence`` or by the account's explicit answers field."""

    id: str
    text: str = Field(min_length=1)
    evidence: str | None = None
    not_applicable_when: str | None = None


class Category(RuleModel):
    title: str = Field(min_length=1)
    questions: list[Question] = Field(min_length=1)


class Gaps(RuleModel):
    """The gaps text: the least complete categories and their open questions, cut to
    ``max_length`` characters at a word boundary (Salesforce long text holds 32,768)."""

    max_categories: int = Field(default=3, ge=1, le=len(CHECKLIST_CATEGORIES))
    max_length: int = Field(default=1000, ge=80, le=32768)


class ChecklistFile(RuleModel):
    """The whole of ``rules/checklist.yaml``."""

    version: Literal[1] = 1
    categories: dict[str, Category] = Field(min_length=1)
    gaps: Gaps = Gaps()

    def semantic_issues(self) -> list[Issue]:
        found: list[Issue] = []
        first_seen: dict[str, tuple[str, int]] = {}
        for category, body in self.categories.items():
            if category not in CHECKLIST_CATEGORIES:
                found.append(
                    (
                        ("categories", category),
                        f"unknown category '{category}'"
                        f"{did_you_mean(category, CHECKLIST_CATEGORIES)}; "
                        f"allowed: {', '.join(CHECKLIST_CATEGORIES)}",
                    )
                )
            for i, question in enumerate(body.questions):
                loc = ("categories", category, "questions", i, "id")
                if question.id in first_seen:
                    where = first_seen[question.id]
                    found.append(
                        (
                            loc,
                            f"duplicate question id '{question.id}' (also in category "
                            f"'{where[0]}', question {where[1] + 1}); ids must be unique",
                        )
                    )
                else:
                    first_seen[question.id] = (category, i)
                if not re.fullmatch(rf"{re.escape(category)}_\d\d", question.id):
                    found.append(
                        (
                            loc,
                            f"question id '{question.id}' must be '{category}_NN' "
                            f"(the category name, '_', two digits)",
                        )
                    )
        return found
