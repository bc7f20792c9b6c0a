"""Fake suites for the Ray executor tests: one that kills its own worker process once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from audit.run.suite import Context, Suite
from tests.fakes import FakeSuite, FakeSuiteConfig, load_fake_or_real


class KillOnceConfig(FakeSuiteConfig):
    marker: str = ""           # created on the first attempt, which then kills its process


class KillOnceSuite(Suite):
    """Dies (SIGKILL, like an OOM kill) the first time it runs; runs like FakeSuite afterwards."""

    name = "kill_once"
    version = "0.1"
    Config = KillOnceConfig

    def run(self, ctx: Context):
        marker = Path(ctx.config.marker)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        result = FakeSuite().run(ctx)
        result.suite = self.name
        return result


def load_test_suite(name: str, where: str = "suite"):
    return KillOnceSuite if name == "kill_once" else load_fake_or_real(name, where=where)
