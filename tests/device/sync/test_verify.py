"""What a Hello answer below the acknowledged seq means: what the till sends again, what not."""

from __future__ import annotations

from device.sync.verify import Journal, SeqsLost, cloud_behind
from protocol.envelope import Ack

EPOCH = "0000aaaaaaaaaaaa"
JOURNAL = Journal(epoch=EPOCH, last_seq=12, acked_seq=10, event_id_at=lambda _seq: None)


def _hello(acked: int, epoch: str = EPOCH) -> Ack:
    return Ack(terminal_id="S001-T01", acked_seq=acked, max_seq=acked, epoch=epoch, hello="n")


def test_every_lost_seq_still_kept_is_sent_again() -> None:
    behind = cloud_behind(_hello(5), JOURNAL, oldest_kept=1)
    assert behind is not None
    assert (behind.cloud_seq, behind.acked_seq, behind.lost) == (5, 10, None)
    assert behind.text.endswith("sending seqs 6-10 again")


def test_seqs_pruned_past_the_window_are_named_exactly() -> None:
    behind = cloud_behind(_hello(5), JOURNAL, oldest_kept=9, window_days=7)
    assert behind is not None
    assert behind.lost == SeqsLost(6, 8, cloud_seq=5, acked_seq=10, window_days=7)
    assert "seqs 6-8 are older than the 7-day resend window" in behind.text
    assert "sending seqs 9-10 again" in behind.text
    # Nothing kept at all (the window is 0, or everything aged out): the whole gap is lost.
    none_kept = cloud_behind(_hello(5), JOURNAL, oldest_kept=None, window_days=0)
    assert none_kept is not None and none_kept.lost == SeqsLost(6, 10, 5, 10, 0)
    assert "sending" not in none_kept.text
    only_unacked = cloud_behind(_hello(9), JOURNAL, oldest_kept=11)
    assert only_unacked is not None and only_unacked.lost == SeqsLost(10, 10, 9, 10, 7)
    assert "seq 10 is older" in only_unacked.text and "sending" not in only_unacked.text


def test_a_cloud_that_holds_everything_or_another_epoch_is_not_behind() -> None:
    assert cloud_behind(_hello(10), JOURNAL, oldest_kept=1) is None
    assert cloud_behind(_hello(12), JOURNAL, oldest_kept=1) is None
    ordinary = Ack(terminal_id="S001-T01", acked_seq=5)  # not an answer to a Hello
    assert cloud_behind(ordinary, JOURNAL, oldest_kept=1) is None
    # A repair's new epoch starts above the cloud, which has not seen its first event yet.
    assert cloud_behind(_hello(5, epoch="0000bbbbbbbbbbbb"), JOURNAL, oldest_kept=1) is None
    # A cloud restored to before it knew any epoch of this terminal is behind all the same.
    assert cloud_behind(_hello(0, epoch=""), JOURNAL, oldest_kept=1) is not None


REPAIRED = Journal(epoch="0001bbbbbbbbbbbb", last_seq=30, acked_seq=30,
                   event_id_at=lambda _seq: None, epoch_first_seq=21)  # fmt: skip


def test_a_cloud_restored_to_before_the_repair_gets_the_epoch_from_its_first_event() -> None:
    behind = cloud_behind(_hello(15), REPAIRED, oldest_kept=1)
    assert behind is not None
    # Seqs 16-20 were abandoned by the repair: the epoch_started event at 21 says so again.
    assert (behind.cloud_seq, behind.acked_seq, behind.lost) == (20, 30, None)
    assert "before this store file's repair" in behind.text
    assert behind.text.endswith("sending seqs 21-30 again")


def test_an_old_epoch_answer_is_the_repair_on_its_way_until_the_cloud_acked_the_new_one() -> None:
    on_its_way = Journal(epoch=REPAIRED.epoch, last_seq=30, acked_seq=20,
                         event_id_at=lambda _seq: None, epoch_first_seq=21)  # fmt: skip
    assert cloud_behind(_hello(15), on_its_way, oldest_kept=21) is None
    # The epoch's start is past the resend window: nothing the till can send settles it.
    assert cloud_behind(_hello(15), REPAIRED, oldest_kept=25) is None
    # A newer epoch at the cloud is the verify.problem() case, never a resend.
    assert cloud_behind(_hello(15, epoch="0002cccccccccccc"), REPAIRED, oldest_kept=1) is None
