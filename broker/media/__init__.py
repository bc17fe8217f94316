"""Seized media to media references: ``broker media hash`` and what it is made of.

One module per step, in the order a file goes through them:

* :mod:`broker.media.walk` — walk the seized folder; no symbolic link is ever followed;
* :mod:`broker.media.hashing` — one file: SHA-256 and MD5 streamed in chunks, PDQ for images;
* :mod:`broker.media.pool` — many files over every core, in order, bounded in flight;
* :mod:`broker.media.scan` — the whole folder: batches, counts, listed problems;
* :mod:`broker.media.references` — the JSON Lines output and its reader;
* :mod:`broker.media.synthetic` — generated pictures (shapes and noise, never real material);
* :mod:`broker.media.bench` — files/s of the pipeline on a generated set.

Example::

    >>> from broker.media.hashing import pdq_distance
    >>> pdq_distance("0" * 64, "0" * 63 + "7")
    3
"""

from __future__ import annotations
