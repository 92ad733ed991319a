"""`make bench`: apachemaint's performance measured against baselines taken in the same run."""
