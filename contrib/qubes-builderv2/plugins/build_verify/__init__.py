# build-verify for Qubes Builder v2: the fetch stage with build-verify's
# drop-ins for the three scripts it runs (get-and-verify-source.py on
# verify-tag, download-file on fetch-verified, verify-file on check-hashes
# and fetch-verified), selected in builder.yml, with no file of the builder
# changed:
#
#   plugins-dirs:
#     - /usr/lib/build-verify/qubes-builderv2/plugins
#
# The builder picks, for each stage, the first plugin that takes it, in
# priority order: this one comes just before its own fetch plugin and is
# that plugin, except that the plugin directory it copies into the executor
# (and runs verify-file from) is an overlay: a copy of the builder's,
# made for each run, with the three scripts replaced. The builder's keys
# and create-archive come along unchanged.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import shutil
import tempfile
from pathlib import Path

from qubesbuilder.plugins.fetch import FetchPlugin

# contrib/qubes-builderv2/ (or /usr/lib/build-verify/qubes-builderv2/).
DROPINS = Path(__file__).resolve().parents[2]
SCRIPTS = ("get-and-verify-source.py", "download-file", "verify-file")
# The scripts' options from the builder's environment, passed to every
# executor (a disposable qube or a container does not inherit it).
PASSED = ("VERIFY_TAG_FLAGS", "FETCH_VERIFIED_FLAGS")


class _Overlay:
    """What the builder knows of a plugin: its name and directory."""

    def __init__(self, name, directory):
        self.name = name
        self.directory = directory


class _Manager:
    """The builder's plugin manager, with the fetch plugin's directory
    replaced by the overlay."""

    def __init__(self, manager, overlay):
        self._manager = manager
        self._overlay = overlay

    @property
    def entities(self):
        entities = dict(self._manager.entities)
        entities["fetch"] = _Overlay("fetch", self._overlay)
        return entities

    def __getattr__(self, name):
        return getattr(self._manager, name)


class BuildVerifyFetchPlugin(FetchPlugin):
    """The builder's fetch plugin, running build-verify's scripts."""

    priority = FetchPlugin.priority - 1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in PASSED:
            if os.environ.get(name):
                self.environment[name] = os.environ[name]

    def run(self, **kwargs):
        missing = [s for s in SCRIPTS if not (DROPINS / s).is_file()]
        if missing:
            raise FileNotFoundError(
                f"build-verify: {', '.join(missing)} missing in {DROPINS}"
            )
        manager = self.manager
        self.config.temp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(
            prefix="build-verify-", dir=self.config.temp_dir
        ) as tmp:
            overlay = Path(tmp) / "fetch"
            shutil.copytree(
                manager.entities["fetch"].directory,
                overlay,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
            for s in SCRIPTS:
                shutil.copy2(DROPINS / s, overlay / "scripts" / s)
            self.manager = _Manager(manager, overlay)
            try:
                super().run(**kwargs)
            finally:
                self.manager = manager


PLUGINS = [BuildVerifyFetchPlugin]
