"""Writer process for the crash test: appends forever, printing what was acknowledged.

Run as ``python crash_writer.py DB SIGNER_KEY SEED``. Each entry's content is derived from
its index so the test can check every acknowledged entry after a SIGKILL.
"""

from __future__ import annotations

import base64
import random
import sys

from accord.ledger import Log, Signer, open_store


def entry_for(index: int) -> bytes:
    return b"crash-test entry %d " % index + bytes([index % 251]) * (index % 97)


def main() -> None:
    path, skey, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    log = Log(open_store(path), Signer.parse(skey))
    print("READY", flush=True)
    while True:
        start = log.size
        count = rng.choice([1, 1, 3, 17, 256, 600, 2500])
        indexes = log.append_many([entry_for(start + i) for i in range(count)])
        print(f"ACK {indexes[0]} {len(indexes)}", flush=True)
        if rng.random() < 0.3:
            note = log.checkpoint()
            print("CP " + base64.b64encode(note).decode(), flush=True)


if __name__ == "__main__":
    main()
