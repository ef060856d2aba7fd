"""The demo log-ins. They exist only where `l2c demo` created them; every one has password "demo"."""
from __future__ import annotations

from dataclasses import dataclass

DEMO_PASSWORD = "demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    team: str | None
    first_name: str
    last_name: str
    language: str = ""
    shown: bool = True  # printed by `l2c serve` and listed in the README


DEMO_TEAMS = (("East", "Shanghai and the East Coast"), ("West", "Shenzhen, Singapore and the West Coast"))

DEMO_USERS = (
    DemoUser("admin", "admin", None, "Alex", "Morgan"),
    DemoUser("manager", "manager", "East", "Grace", "Chen"),
    DemoUser("rep", "rep", "East", "Sam", "Taylor"),
    DemoUser("rep2", "rep", "East", "娜", "李"),
    DemoUser("finance", "finance", None, "Frank", "Weber"),
    # a second team, so that a manager visibly does not see the other team's records
    DemoUser("wei", "rep", "West", "伟", "王", language="zh-hans", shown=False),
    DemoUser("olivia", "rep", "West", "Olivia", "Brown", shown=False),
)
DEMO_USERNAMES = tuple(u.username for u in DEMO_USERS)
