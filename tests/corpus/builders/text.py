"""Text models: tiny transformers encoders and a decoder (random-init from configs), LSTM/GRU classifiers.

Every model here takes int64 token ids, as a tokenizer hands them to users, and the
transformers models take an attention mask whose second row is padded, so masking
is exercised rather than all ones.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.builders.common import Arrays, seed_torch, torch_export

BATCH, SEQ, VOCAB = 2, 16, 128


def _ids_and_mask(batch: int = BATCH, seq: int = SEQ):
    import torch

    ids = torch.randint(0, VOCAB, (batch, seq), dtype=torch.int64)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[1, seq * 5 // 8:] = 0
    return ids, mask


def _hidden_states(model):
    """A module returning ``last_hidden_state`` (the pipeline's features output) from ids and mask."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return Features()


def bert(out_dir: Path, exporter: str, dynamic: bool = False) -> tuple[Arrays, Arrays]:
    """BertModel, 2 layers of width 32: hidden states and the pooler output; ``dynamic``: batch and
    sequence axes symbolic, as the transformers ONNX guides export it, fed at batch 3 and length 11
    (traced at 2 x 16)."""
    import torch
    import transformers

    seed_torch(1)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertModel(config)

    class Bert(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state, out.pooler_output

    def inputs(batch: int, seq: int) -> tuple:
        ids, mask = _ids_and_mask(batch, seq)
        types = torch.zeros_like(ids)
        types[:, seq // 2:] = 1
        return ids, mask, types

    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes.update(last_hidden_state={0: "batch", 1: "sequence"}, pooler_output={0: "batch"})
    traced = inputs(BATCH, SEQ)
    return torch_export(Bert(), traced, out_dir, exporter=exporter, input_names=names,
                        output_names=["last_hidden_state", "pooler_output"], dynamic_axes=axes if dynamic else None,
                        run_args=inputs(3, 11) if dynamic else traced)


def distilbert(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """DistilBertModel, 2 layers of width 32."""
    import transformers

    seed_torch(2)
    config = transformers.DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                           max_position_embeddings=64)
    ids, mask = _ids_and_mask()
    return torch_export(_hidden_states(transformers.DistilBertModel(config)), (ids, mask), out_dir,
                        exporter=exporter, input_names=["input_ids", "attention_mask"],
                        output_names=["last_hidden_state"])


def gpt2(out_dir: Path, exporter: str, opset: int = 17) -> tuple[Arrays, Arrays]:
    """GPT2LMHeadModel, 2 layers of width 32, no KV cache: next-token logits."""
    import torch
    import transformers

    seed_torch(3)
    config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                     use_cache=False)
    model = transformers.GPT2LMHeadModel(config)

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    ids, mask = _ids_and_mask()
    return torch_export(Logits(), (ids, mask), out_dir, exporter=exporter,
                        input_names=["input_ids", "attention_mask"], output_names=["logits"], opset=opset)


def _recurrent(cell: str):
    import torch

    class Classifier(torch.nn.Module):
        """Embedding, a 2-layer recurrent net, then a linear head on every step and on the last step."""

        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, 24)
            rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
            self.rnn = rnn(24, 32, num_layers=2, batch_first=True, bidirectional=(cell == "gru"))
            width = 64 if cell == "gru" else 32
            self.tags = torch.nn.Linear(width, 5)
            self.cls = torch.nn.Linear(width, 3)

        def forward(self, input_ids):
            seq, _ = self.rnn(self.embed(input_ids))
            return self.tags(seq), torch.softmax(self.cls(seq[:, -1]), dim=-1)

    return Classifier()


def lstm_text(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """A 2-layer LSTM tagger/classifier at batch 3."""
    import torch

    seed_torch(4)
    ids = torch.randint(0, VOCAB, (3, 12), dtype=torch.int64)
    return torch_export(_recurrent("lstm"), (ids,), out_dir, exporter=exporter, input_names=["input_ids"],
                        output_names=["tags", "probs"])


def gru_text(out_dir: Path, exporter: str, int32: bool = False) -> tuple[Arrays, Arrays]:
    """A 2-layer bidirectional GRU tagger/classifier at batch 4; ``int32``: ids as int32, as mobile
    tokenizers hand them over (an int32 Gather index)."""
    import torch

    seed_torch(5)
    ids = torch.randint(0, VOCAB, (4, 10), dtype=torch.int32 if int32 else torch.int64)
    return torch_export(_recurrent("gru"), (ids,), out_dir, exporter=exporter, input_names=["input_ids"],
                        output_names=["tags", "probs"])


def transformer_encoder(out_dir: Path, exporter: str, bool_mask: bool = False) -> tuple[Arrays, Arrays]:
    """torch.nn.TransformerEncoder (2 pre-norm layers, GELU) over embeddings, with a padding mask;
    ``bool_mask``: the mask is a bool input (True = padding), as torch's own API takes it."""
    import torch

    seed_torch(6)

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, 32)
            layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True,
                                                     norm_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

        def forward(self, input_ids, attention_mask):
            padding = attention_mask if bool_mask else attention_mask == 0
            return self.encoder(self.embed(input_ids), src_key_padding_mask=padding)

    ids, mask = _ids_and_mask()
    if bool_mask:
        mask = mask == 0
    return torch_export(Encoder(), (ids, mask), out_dir, exporter=exporter,
                        input_names=["input_ids", "attention_mask"], output_names=["hidden"])


def t5_encoder(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """T5EncoderModel, 2 layers of width 32: relative position buckets (Log, Min, Where on int
    positions), RMS-style T5LayerNorm, gated-GELU feed-forward."""
    import transformers

    seed_torch(7)
    config = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8, relative_attention_max_distance=16,
                                   feed_forward_proj="gated-gelu", decoder_start_token_id=0, pad_token_id=0)
    ids, mask = _ids_and_mask()
    return torch_export(_hidden_states(transformers.T5EncoderModel(config)), (ids, mask), out_dir,
                        exporter=exporter, input_names=["input_ids", "attention_mask"],
                        output_names=["last_hidden_state"])


def clip_text(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """CLIPTextModel, 2 layers of width 32: causal mask, quick-GELU, and the pooled output taken at
    each row's end-of-text token (ArgMax over the ids, then a Gather with computed indices)."""
    import torch
    import transformers

    seed_torch(8)
    config = transformers.CLIPTextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=32,
                                         eos_token_id=VOCAB - 1, bos_token_id=0, pad_token_id=1)
    model = transformers.CLIPTextModel(config)

    class Text(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state, out.pooler_output

    ids, mask = _ids_and_mask()
    ids = ids.clamp(max=VOCAB - 2)
    ids[0, -1] = VOCAB - 1
    ids[1, SEQ * 5 // 8 - 1] = VOCAB - 1
    return torch_export(Text(), (ids, mask), out_dir, exporter=exporter,
                        input_names=["input_ids", "attention_mask"],
                        output_names=["last_hidden_state", "pooler_output"])
