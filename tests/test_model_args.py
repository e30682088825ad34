"""model_args parsing: the strings lmms-eval hands over become typed, checked settings."""

import pytest

from ov_eval.models.model_args import AdapterArgs


def test_cli_strings_are_coerced_to_declared_types():
    # lmms-eval passes --batch_size as the string "8" and parses "-1"-like numbers to floats
    args = AdapterArgs.from_kwargs(
        batch_size="8", max_frames_num=16.0, trust_remote_code="true", system_prompt="none"
    )
    assert (args.batch_size, args.max_frames_num, args.trust_remote_code, args.system_prompt) == (
        8,
        16,
        True,
        None,
    )


def test_defaults_follow_the_paper():
    args = AdapterArgs.from_kwargs()
    assert (args.max_frames_num, args.max_images, args.attn_implementation) == (32, None, "sdpa")
    assert args.system_prompt == "You are a helpful assistant."
    # the original driver: ignores `until`, PIL resampling, mean loss over continuation + end of turn
    assert (args.stop_strings, args.image_backend, args.likelihood) == ("none", "pil", "mean")


def test_opt_in_settings_are_parsed_and_change_the_resume_fingerprint():
    from ov_eval.fingerprint import answer_settings

    args = AdapterArgs.from_kwargs(
        stop_strings="TASK", image_backend="torchvision", likelihood="sum", max_images="12"
    )
    assert (args.stop_strings, args.image_backend, args.likelihood, args.max_images) == (
        "task",
        "torchvision",
        "sum",
        12,
    )
    assert AdapterArgs.from_kwargs(max_images="none").max_images is None
    base = answer_settings({"pretrained": "x"})
    for changed in (
        {"stop_strings": "task"},
        {"image_backend": "torchvision"},
        {"likelihood": "sum"},
        {"max_images": 12},
    ):
        assert answer_settings({"pretrained": "x", **changed}) != base, changed


def test_unknown_argument_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        AdapterArgs.from_kwargs(pretrained="x", conv_template="qwen_1_5")
    message = str(err.value)
    assert "conv_template" in message
    for name in (
        "pretrained",
        "dtype",
        "device_map",
        "attn_implementation",
        "max_frames_num",
        "video_decode_backend",
    ):
        assert name in message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"dtype": "fp8"}, "dtype"),
        ({"attn_implementation": "flash"}, "attn_implementation"),
        ({"video_decode_backend": "opencv"}, "video_decode_backend"),
        ({"max_frames_num": 0}, "max_frames_num"),
        ({"batch_size": "2.5"}, "batch_size"),
        ({"device_map": "balanced_low_0"}, "device_map"),
        ({"stop_strings": "until"}, "stop_strings"),
        ({"image_backend": "opencv"}, "image_backend"),
        ({"likelihood": "max"}, "likelihood"),
        ({"max_images": 0}, "max_images"),
    ],
)
def test_bad_values_are_rejected_with_the_argument_name(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        AdapterArgs.from_kwargs(**kwargs)
