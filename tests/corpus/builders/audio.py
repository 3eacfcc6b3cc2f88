"""A Whisper-style audio encoder: transformers' WhisperEncoder, random-init from a tiny WhisperConfig.

The encoder is what on-device speech pipelines export on its own (the decoder runs
step by step); its input is a log-mel spectrogram of ``2 * max_source_positions``
frames, which two Conv1d layers (the second strided) turn into positions.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus.builders.common import Arrays, seed_torch, torch_export


def whisper_encoder(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """WhisperEncoder: 16 mel bins, 64 frames, 2 layers of width 32."""
    import torch
    import transformers

    seed_torch(20)
    config = transformers.WhisperConfig(num_mel_bins=16, max_source_positions=32, d_model=32, encoder_layers=2,
                                        encoder_attention_heads=4, encoder_ffn_dim=64, decoder_layers=1,
                                        decoder_attention_heads=4, decoder_ffn_dim=64, vocab_size=64,
                                        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
    encoder = transformers.WhisperModel(config).get_encoder()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_features):
            return self.encoder(input_features=input_features).last_hidden_state

    mel = torch.randn(1, config.num_mel_bins, 2 * config.max_source_positions)
    return torch_export(Encoder(), (mel,), out_dir, exporter=exporter, input_names=["input_features"],
                        output_names=["last_hidden_state"])


def wav2vec2(out_dir: Path, exporter: str) -> tuple[Arrays, Arrays]:
    """Wav2Vec2Model on raw audio at batch 2: a strided Conv1d feature extractor with GroupNorm,
    a grouped positional Conv1d, 2 transformer layers of width 32."""
    import torch
    import transformers

    seed_torch(21)
    config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(5, 2, 2),
                                         conv_kernel=(10, 3, 3), num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=4, vocab_size=32, do_stable_layer_norm=False,
                                         feat_extract_norm="group", mask_time_prob=0.0)
    model = transformers.Wav2Vec2Model(config)

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_values):
            return self.model(input_values=input_values).last_hidden_state

    audio = torch.randn(2, 1600)
    return torch_export(Features(), (audio,), out_dir, exporter=exporter, input_names=["input_values"],
                        output_names=["last_hidden_state"])
