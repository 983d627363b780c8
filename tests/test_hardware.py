"""The accelerator catalog and the TPP / performance-density arithmetic of ECCN 3A090."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import AccordError, NotFoundError
from accord.hardware import default_catalog, get_chip, h100_equivalents, load_catalog, tpp
from accord.hardware.metrics import performance_density


def test_every_figure_has_a_source() -> None:
    catalog = default_catalog()
    assert len(catalog.chips) >= 25
    for chip in catalog:
        has_figures = any(v is not None for v in chip.dense_tops.values())
        if has_figures:
            assert chip.sources, chip.id
            assert all(s.url.startswith("http") for s in chip.sources), chip.id


@pytest.mark.parametrize(
    ("name", "expected", "source"),
    [
        # Worked examples from public dense specs (research note; NVIDIA datasheets).
        ("A100", 4992, "312 dense BF16 TFLOPS x 16"),
        ("H100-SXM", 15830, "989.4 dense BF16 TFLOPS x 16 (fp8 1978.9 x 8 = 15,831)"),
        ("H20", 2368, "148 dense BF16 TFLOPS x 16"),
        # Widely reported: RTX 4090 TPP ~5,285 (controlled), 4090D cut to ~4,707 (< 4800).
        ("RTX 4090", 5285, "660.6 dense FP8 TOPS x 8"),
        ("RTX 4090D", 4707, "588.4 dense FP8 TOPS x 8"),
    ],
)
def test_tpp_matches_published_figures(name: str, expected: float, source: str) -> None:
    value = tpp(get_chip(name)).value
    assert value is not None, source
    assert value == pytest.approx(expected, rel=2e-3), source


def test_h20_density_is_below_both_thresholds() -> None:
    # H20: TPP 2,368 on the 814 mm^2 GH100 die -> density ~2.91 < 3.2 (3A090.b.2 floor).
    pd = performance_density(get_chip("H20")).value
    assert pd == pytest.approx(2.91, abs=0.01)


def test_tpp_published_agrees_with_computed_where_given() -> None:
    checked = 0
    for chip in default_catalog():
        computed = tpp(chip).value
        if chip.tpp_published is not None and computed is not None:
            assert computed == pytest.approx(chip.tpp_published, rel=0.02), chip.id
            checked += 1
    assert checked >= 1


def test_unknown_die_area_gives_unknown_density_not_a_guess() -> None:
    chip = get_chip("MI300X")
    assert chip.die_area_mm2 is None
    pd = performance_density(chip)
    assert pd.value is None and "unknown" in pd.derivation


def test_chip_without_public_figures_is_unknown() -> None:
    chip = get_chip("MI308X")
    assert tpp(chip).value is None
    assert h100_equivalents(chip).value is None


def test_h100_equivalents_of_reference_is_one() -> None:
    assert h100_equivalents(get_chip("H100")).value == pytest.approx(1.0)


@pytest.mark.parametrize("alias", ["h100", "H100 SXM", "h100-sxm", "H100_SXM5"])
def test_lookup_forgives_case_and_separators(alias: str) -> None:
    assert get_chip(alias).id == "H100-SXM"


def test_unknown_chip_suggests_close_names() -> None:
    with pytest.raises(NotFoundError) as err:
        get_chip("H10")
    assert err.value.field == "chip"
    assert err.value.fix is not None and "H100-SXM" in err.value.fix


def test_malformed_catalog_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "cat.yaml"
    bad.write_text(
        "schema_version: 1\ncompiled: x\nbit_lengths: {bf16: 16}\nchips:\n"
        "  - id: X\n    name: X\n    vendor: V\n    dense_tops: {bf16: -1}\n"
        "    sources: [{url: 'https://x'}]\n"
    )
    with pytest.raises(AccordError) as err:
        load_catalog(bad)
    assert "chips.0.dense_tops" in err.value.field


def test_figures_without_sources_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "cat.yaml"
    bad.write_text(
        "schema_version: 1\ncompiled: x\nbit_lengths: {bf16: 16}\nchips:\n"
        "  - id: X\n    name: X\n    vendor: V\n    dense_tops: {bf16: 100}\n"
    )
    with pytest.raises(AccordError, match="no sources"):
        load_catalog(bad)
