"""Proof of training: record a training transcript cheaply and verify it by replay.

Follows Proof-of-Learning (Jia et al., IEEE S&P 2021) with the defences its published spoofs
call for (Zhang et al. 2022; Fang et al. 2023): data bound to the transcript by hash
commitments, initial weights bound to a declared seed, segments to replay chosen partly with
randomness the lab cannot predict, and a tolerance calibrated from measured replay noise.
"""

from __future__ import annotations
