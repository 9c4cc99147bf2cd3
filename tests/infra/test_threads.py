"""torch's thread count for a block, restored after it."""

import torch

from evoprune.infra.threads import torch_threads


def test_a_count_holds_inside_the_block_and_none_or_zero_leave_it():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        for unchanged in (None, 0):  # the config's threads=0: torch's own count
            with torch_threads(unchanged):
                assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
