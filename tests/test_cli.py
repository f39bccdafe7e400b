"""The command line: parameters, dataset listing, running notebooks and reporting failures."""

import nbformat
import pytest

from workbench import cli


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('profile = "smoke"\nvalue = 1')]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def test_parse_params():
    assert cli.parse_params(["seed=1", "dataset=mfeat", "rates=[0.1, 0.5]", "root=/x/y"]) == {
        "seed": 1,
        "dataset": "mfeat",
        "rates": [0.1, 0.5],
        "root": "/x/y",
    }
    with pytest.raises(ValueError, match="key=value"):
        cli.parse_params(["seed"])


def test_datasets_lists_the_registry(capsys):
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "embedded" in out


def test_missing_notebook_folder(tmp_path, capsys):
    assert (
        cli.main(
            ["run-all", "--notebooks", str(tmp_path / "none"), "--output", str(tmp_path / "out")]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.notebook
def test_run_all_in_order_stops_at_the_failing_cell(tmp_path, capfd):
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(
        folder / "00_ok.ipynb",
        "assert profile == 'full' and value == 2",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2]);",
    )
    write_notebook(folder / "01_bad.ipynb", "x = 1", "raise RuntimeError('broken on purpose')")
    write_notebook(folder / "02_never.ipynb", "x = 1")
    out = tmp_path / "out"
    code = cli.main(
        [
            "run-all",
            "--profile",
            "full",
            "-p",
            "value=2",
            "--notebooks",
            str(folder),
            "--output",
            str(out),
        ]
    )
    captured = capfd.readouterr()  # the kernels' own stderr too
    assert code == 1
    assert "01_bad.ipynb failed in cell" in captured.err
    assert "RuntimeError: broken on purpose" in captured.err
    assert (out / "00_ok.ipynb").exists() and (out / "01_bad.ipynb").exists()
    assert not (out / "02_never.ipynb").exists()  # stops at the first failure
    assert list((out / "figures" / "00_ok").glob("*.png"))  # the inline figure was extracted
    assert str(out.resolve()) in captured.out
    assert "without encryption" not in captured.err  # the kernel's start-up log is silenced
