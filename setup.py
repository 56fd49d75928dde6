"""Package discovery that pyproject.toml cannot express declaratively.

- `connectors/` is installed under the import name `kam_sync_connectors`, so that it cannot
  collide with another distribution's generic `connectors` package.
- The ops-edited defaults in `mappings/` and `rules/` are shipped inside the package as
  `kam_sync.defaults.mappings` and `kam_sync.defaults.rules`, so `kam-sync init` works after a
  plain `pip install`.
"""

from setuptools import find_packages, setup

packages = find_packages(".", include=["kam_sync", "kam_sync.*"])
connector_packages = ["kam_sync_connectors"] + [
    f"kam_sync_connectors.{name}" for name in find_packages("connectors")
]
package_dir = {
    "kam_sync": "kam_sync",
    "kam_sync_connectors": "connectors",
    "kam_sync.defaults.mappings": "mappings",
    "kam_sync.defaults.rules": "rules",
}

setup(
    packages=packages
    + connector_packages
    + ["kam_sync.defaults.mappings", "kam_sync.defaults.rules"],
    package_dir=package_dir,
    package_data={
        "kam_sync": ["py.typed"],
        "kam_sync_connectors": ["py.typed"],
        "kam_sync.defaults.mappings": ["*.yaml"],
        "kam_sync.defaults.rules": ["*.yaml"],
    },
)
