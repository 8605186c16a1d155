"""Quantities as the simulated API server reads them, hostile ones included."""

from __future__ import annotations

import pytest

from runway.simcluster.quantity import QuantityError, canonical


@pytest.mark.parametrize(("written", "shown"), [("1000m", "1"), ("0.5", "500m"), ("2048Ki", "2Mi")])
def test_canonical_forms(written, shown):
    assert canonical(written) == shown


@pytest.mark.parametrize("written", ["1e999999999", "1e-999999999", "1" * 5000])
def test_quantities_past_what_a_server_computes_are_refused_at_once(written):
    with pytest.raises(QuantityError):
        canonical(written)
