"""The lock-free cached_property computes once per instance, as functools' does."""
from __future__ import annotations

from apachemaint.cached import cached_property


class Counted:
    calls = 0

    @cached_property
    def value(self) -> int:
        """A fact worth computing once."""
        Counted.calls += 1
        return Counted.calls * 10


def test_computed_once_per_instance_and_stored_on_it():
    a, b = Counted(), Counted()
    assert (a.value, a.value, b.value, b.value) == (10, 10, 20, 20)
    assert Counted.calls == 2 and a.__dict__["value"] == 10


def test_the_class_attribute_is_the_descriptor_with_its_doc():
    assert isinstance(Counted.__dict__["value"], cached_property)
    assert Counted.value.__doc__ == "A fact worth computing once."
