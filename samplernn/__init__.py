"""SampleRNN: unconditional raw-audio generation with three-tier RNNs (Mehri et al., 2017)."""

__version__ = "0.2.0"
