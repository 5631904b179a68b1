"""ponder's engine: batched, prefix-shared sampling over Hugging Face causal LMs (see engine.py)."""

from ponder.engine.async_engine import AsyncEngine, RequestStream
from ponder.engine.engine import LLMEngine, RequestOutput, SampleOutput
from ponder.sampling import SampleEvent, SamplingParams

__all__ = ["AsyncEngine", "LLMEngine", "RequestOutput", "RequestStream", "SampleEvent", "SampleOutput",
           "SamplingParams"]
