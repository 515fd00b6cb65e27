"""Who exists in the emulator: credentials, channel apps, sub-enterprises and their employees."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FIXTURE = Path(__file__).with_name("default_fixture.json")


@dataclass(frozen=True)
class Employee:
    open_id: str
    user_id: str
    verified: bool = True
    #: The seal-query (印章查询) permission ChannelDescribeOrganizationSeals needs of the operator.
    can_query_seals: bool = True


@dataclass
class Organization:
    open_id: str
    name: str
    verified: bool = True
    review_result: str = "SUCCESS"
    employees: list[Employee] = field(default_factory=list)
    closing: bool = False  # being closed (注销中): every action is OperationDenied.OrganizationClosing
    #: Verified by an authorization letter (授权书认证): its INVOICE seals need a TaxIdentifyCode.
    authorization_letter: bool = False

    def find_employee(self, some_id: str) -> Employee | None:
        """An employee named by OpenId or by e-sign UserId."""
        for employee in self.employees:
            if some_id in (employee.open_id, employee.user_id):
                return employee
        return None


@dataclass
class Fixture:
    """The parsed fixture file; see the README for its schema."""

    credentials: dict[str, str] = field(default_factory=dict)
    organizations: dict[tuple[str, str], Organization] = field(default_factory=dict)  # (app_id, open_id)
    app_ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: str | Path) -> Fixture:
        """Read and check a fixture file; a malformed one fails at start-up, not at request time."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        fixture = cls()
        for cred in data.get("credentials", []):
            fixture.credentials[str(cred["secret_id"])] = str(cred["secret_key"])
        for app in data.get("apps", []):
            app_id = str(app["app_id"])
            fixture.app_ids.add(app_id)
            for org in app.get("organizations", []):
                employees = []
                for emp in org.get("employees", []):
                    user_id = str(emp["user_id"])
                    if len(user_id) != 32:
                        raise ValueError(f"fixture employee {emp.get('open_id')!r}: user_id must be 32 characters")
                    employees.append(
                        Employee(
                            str(emp["open_id"]),
                            user_id,
                            bool(emp.get("verified", True)),
                            bool(emp.get("can_query_seals", True)),
                        )
                    )
                review = str(org.get("review_result", "SUCCESS"))
                if review not in ("SUCCESS", "FAIL"):
                    raise ValueError(f"fixture organization {org['open_id']!r}: review_result must be SUCCESS or FAIL")
                fixture.organizations[(app_id, str(org["open_id"]))] = Organization(
                    str(org["open_id"]),
                    str(org.get("name", org["open_id"])),
                    bool(org.get("verified", True)),
                    review,
                    employees,
                    bool(org.get("closing", False)),
                    bool(org.get("authorization_letter", False)),
                )
        return fixture
