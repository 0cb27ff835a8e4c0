"""The former name of `torch_poet.generate`, so that imports of `torch_poet.sample` keep working."""

from .generate import CHUNK, Context, Generation, Sampler, encode, generate, prime, stream

__all__ = ["CHUNK", "Context", "Generation", "Sampler", "encode", "generate", "prime", "stream"]
