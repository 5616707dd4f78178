"""The staff docs site: pages generated from the strategy, built with mkdocs-material."""

from tietotie.docsite.build import DEFAULT_OUT, build_site, find_config, serve_site
from tietotie.docsite.errors import DocsBuildError
from tietotie.docsite.site import GeneratedSite, generate_site

__all__ = [
    "DEFAULT_OUT",
    "DocsBuildError",
    "GeneratedSite",
    "build_site",
    "find_config",
    "generate_site",
    "serve_site",
]
