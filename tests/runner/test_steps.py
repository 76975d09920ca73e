"""Steps as GitHub runs them: outputs, env/path files, shells, failures, timeouts."""

from pathlib import Path

from stageline.runner.contract import JobResult
from stageline.runs.states import Conclusion
from tests.runner.helpers import job, make_repo, request, run, step


def errors(result: JobResult) -> list[str]:
    return [a.message for a in result.annotations if a.level == "error"]


def test_outputs_outcome_and_conclusion_flow_to_later_steps(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, 'echo "greeting=hi" >> "$GITHUB_OUTPUT"', id="one"),
        step(1, "exit 1", id="bad", continue_on_error=True),
        step(
            2,
            "echo ${{ steps.one.outputs.greeting }} ${{ steps.bad.outcome }} "
            "${{ steps.bad.conclusion }}",
        ),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS
    assert result.steps[0].outputs == {"greeting": "hi"}
    assert (result.steps[1].outcome, result.steps[1].conclusion) == (
        Conclusion.FAILURE,
        Conclusion.SUCCESS,
    )
    assert "hi failure success" in sink.lines(2)


def test_env_heredoc_and_path_apply_to_later_steps(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(
            0,
            "mkdir -p $RUNNER_TEMP/bin && printf '#!/bin/sh\\necho tool-ran\\n' > "
            "$RUNNER_TEMP/bin/mytool && chmod +x $RUNNER_TEMP/bin/mytool\n"
            "echo $RUNNER_TEMP/bin >> $GITHUB_PATH\n"
            "{ echo 'MULTI<<EOF'; echo line1; echo line2; echo EOF; } >> $GITHUB_ENV",
        ),
        step(1, 'mytool; echo "[$MULTI]"'),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.conclusion == Conclusion.SUCCESS, result.annotations
    assert sink.lines(1)[1:] == ["tool-ran", "[line1", "line2]"]


def test_malformed_env_file_fails_the_step(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    result, _ = run(request(tmp_path, repo, job(step(0, "echo 'X<<EOF' >> $GITHUB_ENV"))))
    assert result.steps[0].outcome == Conclusion.FAILURE
    assert any("Matching delimiter not found" in m for m in errors(result))


def test_working_directory_from_step_and_defaults(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"sub/dir/f.txt": "x", "other/g.txt": "y"})
    planned = job(
        step(0, "ls", working_directory="sub/dir"),
        step(1, "ls"),
        step(2, "true", working_directory="missing"),
        defaults_working_directory="other",
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert sink.lines(0)[1:] == ["f.txt"] and sink.lines(1)[1:] == ["g.txt"]
    assert result.steps[2].outcome == Conclusion.FAILURE
    assert any("working-directory 'missing' does not exist" in m for m in errors(result))


def test_command_not_found_and_missing_run_bit_are_annotated_failures(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"deploy.sh": "#!/bin/sh\necho deployed\n"})
    planned = job(
        step(0, "no-such-command-xyz", continue_on_error=True),
        step(1, "./deploy.sh", continue_on_error=True),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert [s.exit_code for s in result.steps] == [127, 126]
    messages = errors(result)
    assert any("exit code 127" in m and "not found" in m for m in messages)
    assert any("exit code 126" in m and "run bit" in m for m in messages)


def test_missing_shell_is_an_annotated_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    result, _ = run(request(tmp_path, repo, job(step(0, "x", shell="nosuchshell {0}"))))
    assert result.conclusion == Conclusion.FAILURE
    assert any(a.title == "Shell not found" for a in result.annotations)


def test_shells_python_and_job_default(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "import sys; print(sys.argv[0].endswith('.py'))", shell="python"),
        step(1, "false | true; echo reached"),
        defaults_shell="bash",
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert sink.lines(0)[-1] == "True"
    assert result.steps[1].outcome == Conclusion.FAILURE  # bash default: pipefail
    assert "reached" not in sink.lines(1)


def test_step_timeout_kills_and_fails_unless_continue_on_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "sleep 30", timeout_minutes=0.005, continue_on_error=True),
        step(1, "sleep 30", timeout_minutes="${{ 0.005 }}"),
        step(2, "echo next"),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert result.steps[0].outcome == Conclusion.FAILURE
    assert result.steps[0].conclusion == Conclusion.SUCCESS
    assert result.steps[1].conclusion == Conclusion.FAILURE
    assert result.steps[2].conclusion == Conclusion.SKIPPED
    assert sum("timed out" in m for m in errors(result)) == 2


def test_status_functions_pick_the_steps_that_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "exit 2"),
        step(1, "echo skipped"),
        step(2, "echo on-failure", if_="failure()"),
        step(3, "echo always", if_="${{ always() }}"),
        step(4, "echo only-success", if_="success()"),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert [s.conclusion.value for s in result.steps] == [
        "failure",
        "skipped",
        "success",
        "success",
        "skipped",
    ]


def test_secrets_and_add_mask_never_reach_sink_or_disk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "echo token=${{ secrets.TOKEN }}; echo ::add-mask::dyn-value; echo got dyn-value"),
        step(1, 'echo "again $MY_TOKEN"', env={"MY_TOKEN": "${{ secrets.TOKEN }}"}),
    )
    result, sink = run(request(tmp_path, repo, planned, secrets={"TOKEN": "t0p-s3cret"}))
    text = "\n".join(sink.lines())
    files = "".join(Path(s.log_path).read_text() for s in result.steps if s.log_path)
    for blob in (text, files):
        assert "t0p-s3cret" not in blob and "dyn-value" not in blob
    assert "token=***" in text and "got ***" in text and "again ***" in text


def test_unsecure_set_env_fails_the_step_and_set_output_warns(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "echo '::set-output name=x::1'", id="a"),
        step(1, "echo '::set-env name=A::1'"),
        step(
            2,
            "echo '::set-env name=B::2'",
            env={"ACTIONS_ALLOW_UNSECURE_COMMANDS": "true"},
            if_="always()",
        ),
        step(3, 'echo "B=$B"', if_="always()"),
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.steps[0].outputs == {"x": "1"}
    assert result.steps[1].outcome == Conclusion.FAILURE
    assert result.steps[2].outcome == Conclusion.SUCCESS
    assert sink.lines(3)[-1] == "B=2"
    assert any("set-output" in a.message and a.level == "warning" for a in result.annotations)


def test_expression_errors_fail_the_step_with_an_annotation(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "echo ${{ nosuchcontext.x }}", continue_on_error=True),
        step(1, "true", env={"A": "${{ fromJSON('{') }}"}, continue_on_error=True),
        step(2, "true", if_="steps.x.outputs == (", continue_on_error=True),
    )
    result, _ = run(request(tmp_path, repo, planned))
    assert [s.outcome for s in result.steps] == [Conclusion.FAILURE] * 3
    assert len(errors(result)) == 3


def test_step_summary_and_display_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "echo '### Done' >> $GITHUB_STEP_SUMMARY", name="Sum ${{ github.actor }}")
    )
    result, sink = run(request(tmp_path, repo, planned))
    assert result.steps[0].summary == "### Done\n"
    assert result.steps[0].name == "Sum octocat"
    assert ("started", (0, "Sum octocat")) in sink.calls


def test_github_action_names_run_steps(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    planned = job(
        step(0, "echo $GITHUB_ACTION"),
        step(1, "echo $GITHUB_ACTION"),
        step(2, "echo $GITHUB_ACTION", id="named"),
    )
    _, sink = run(request(tmp_path, repo, planned))
    assert [sink.lines(i)[-1] for i in range(3)] == ["__run", "__run_2", "named"]
