"""Lightning callbacks shared by the methods."""
