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


# lmms-eval's evaluator passes its CLI's --batch_size (default 1), --max_batch_size and --device like this
CLI_EXTRAS = {"batch_size": 1, "max_batch_size": None, "device": None}


def test_batch_size_in_model_args_wins_over_the_cli_default(tiny_ov_dir):
    from ov_eval.models.llava_onevision import LlavaOneVision

    model = LlavaOneVision.create_from_arg_string(
        f"pretrained={tiny_ov_dir},dtype=float32,device=cpu,batch_size=4", dict(CLI_EXTRAS)
    )
    assert model.batch_size == 4  # lmms-eval's default: "got multiple values for keyword argument"
    assert str(model.device) == "cpu"


@pytest.mark.parametrize(
    ("arg_string", "needle"),
    [
        ("batch_size=abc", "batch_size must be an integer, got 'abc'"),
        ("batch_size=0", "batch_size must be >= 1, got 0"),
        ("max_frames_num=-3", "max_frames_num must be >= 1"),
    ],
)
def test_invalid_model_args_get_the_adapters_own_message(arg_string, needle):
    from ov_eval.models.llava_onevision import LlavaOneVision

    with pytest.raises(ValueError, match=needle):
        LlavaOneVision.create_from_arg_string(arg_string, dict(CLI_EXTRAS))


def test_a_missing_local_checkpoint_directory_is_named(tmp_path):
    missing = tmp_path / "ckpts" / "step-100"
    with pytest.raises(ValueError, match=f"pretrained='{missing}' is a local path but no such directory"):
        AdapterArgs.from_kwargs(pretrained=str(missing))
    assert AdapterArgs.from_kwargs(pretrained="org/name").pretrained == "org/name"  # a hub id is not checked
