"""Data-parallel evaluation and training on Dask, the machinery behind ``graphc.dask``:
``split`` (which nodes run per chunk, which are partials, which finish on the driver) and
``worker`` (what a Dask worker runs). Neither imports Dask; ``graphc.dask`` does."""
