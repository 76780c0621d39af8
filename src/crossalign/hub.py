"""`crossalign push OUTPUT_DIR REPO_ID`: a trained model (or its LoRA adapter) and its card to the Hugging Face Hub.

Everything that can be checked offline is checked before the first network call: the folder holds a saved
model or adapter of a crossalign run, the repo id has the form `user/name`, a token is there. The card is
rendered again (`crossalign.cards`) so that results that arrived since training are on it, then
`huggingface_hub.HfApi` creates the repo (if needed) and uploads the folder in one commit. `training.push_to_hub`
calls the same function once, after the last stage is saved; the Trainer itself never pushes (checkpoints
stay local).
"""

from __future__ import annotations

from pathlib import Path

from crossalign.errors import CrossalignError
from crossalign.run_dir import ADAPTER, MODEL, SAVED, RunDir

LOGIN = "run `huggingface-cli login` (or `hf auth login`) or set HF_TOKEN"


def check_repo_id(repo_id: str | None, what: str = "REPO_ID") -> str:
    """`user/name` as the Hub accepts it (huggingface_hub's own validator), else a one-line error."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not repo_id:
        raise CrossalignError(f"{what} is missing: name the Hub repo as user/name (e.g. training.hub_model_id=me/afp-gemma)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise CrossalignError(f"{what} {repo_id!r} is not a Hub repo id ({str(e).splitlines()[0]}); write user/name") from None
    if repo_id.count("/") != 1:
        raise CrossalignError(f"{what} {repo_id!r} is not a Hub repo id: write user/name (your user or organization, then the model name)")
    return repo_id


def check_token(token: str | None = None) -> str:
    """The token to push with: `token`, else huggingface_hub's (HF_TOKEN, the login's stored token)."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise CrossalignError(f"no Hugging Face token to push with: {LOGIN}")
    return token


def pushable_folder(output_dir, which: str | None = None) -> Path:
    """`OUTPUT_DIR/model` (`which` 'model'), `OUTPUT_DIR/adapter` ('adapter'), or without `which` model/ where
    it exists, else adapter/; a one-line error unless it holds a saved model (config.json) or adapter
    (adapter_config.json)."""
    output_dir = Path(output_dir).expanduser()
    if not output_dir.is_dir():
        raise CrossalignError(f"OUTPUT_DIR {output_dir} is not a folder: pass the output_dir of `crossalign train`")
    stage = RunDir(output_dir).final_stage()
    if which is None:
        which = MODEL if stage.saved(MODEL) else ADAPTER
        if which == ADAPTER and not stage.saved(ADAPTER):
            raise CrossalignError(f"{stage.path} holds no saved model/ or adapter/: pass the output_dir of a finished "
                                  "`crossalign train` run")
    folder = stage.folder(which)
    if not stage.saved(which):
        if which == ADAPTER and stage.saved(MODEL):
            raise CrossalignError(f"{stage.path} has no adapter/ (the run trained all weights, not LoRA): push model/, without --adapter")
        raise CrossalignError(f"{folder} holds no saved {which} ({SAVED[which]}): pass the output_dir of a finished "
                              "`crossalign train` run")
    return folder


def _network_error(e: Exception, repo_id: str) -> CrossalignError:
    """A failed Hub call as one line that names the fix."""
    from huggingface_hub.errors import HfHubHTTPError

    status = getattr(getattr(e, "response", None), "status_code", None) if isinstance(e, HfHubHTTPError) else None
    if status == 401:
        return CrossalignError(f"the Hub refused the token (401 unauthorized): {LOGIN} with a token that has write access")
    if status == 403:
        return CrossalignError(f"the token may not write to {repo_id} (403 forbidden): use a write token, or a repo "
                               "under your own user or an organization you belong to")
    if status == 404:
        return CrossalignError(f"{repo_id} was not found on the Hub (404): check the user/organization in the repo id")
    if status is not None:
        return CrossalignError(f"pushing to {repo_id} failed (HTTP {status}: {str(e).splitlines()[0][:200]}); try again later")
    return CrossalignError(f"cannot reach the Hugging Face Hub to push {repo_id} ({type(e).__name__}): check the network, "
                           "HF_ENDPOINT and that HF_HUB_OFFLINE is not set")


def push(folder: Path, repo_id: str, token: str, private: bool | None = None, revision: str | None = None,
         commit_message: str | None = None, results=()) -> str:
    """Render `folder`'s card again, then create `repo_id` if needed and upload the folder; returns the commit URL.
    `folder`, `repo_id` and `token` must have been checked (the functions above)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from crossalign.cards import build_card, write_card

    write_card(folder, build_card(folder.parent, folder.name, results=results, repo_id=repo_id))
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model", revision=revision,
                                 commit_message=commit_message or f"crossalign: upload {folder.name}/ with its card")
    except (HfHubHTTPError, OSError) as e:  # HTTP errors, offline mode
        raise _network_error(e, repo_id) from None
    except Exception as e:
        # connection refused, DNS, timeouts: the HTTP client's own errors (httpx, httpx2: huggingface_hub's
        # client changed its name), which are no OSErrors
        if type(e).__module__.split(".")[0].startswith("httpx"):
            raise _network_error(e, repo_id) from None
        raise
    return str(getattr(info, "commit_url", None) or info)


def check_training_push(training: dict) -> str | None:
    """With `training.push_to_hub`, the token to push with, checked before any model loads (None without it)."""
    if not training.get("push_to_hub"):
        return None
    check_repo_id(training.get("hub_model_id"), "training.hub_model_id")
    return check_token(training.get("hub_token"))


def push_trained(stage_dir: Path, training: dict, token: str) -> str:
    """`training.push_to_hub`: the final model/ of the run, with its card (rank 0, after the last stage)."""
    return push(pushable_folder(stage_dir, MODEL), training["hub_model_id"], token,
                private=training.get("hub_private_repo"), revision=training.get("hub_revision"))


# ---------------------------------------------------------------- `crossalign push`


def add_arguments(parser) -> None:
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="the output_dir of `crossalign train`")
    parser.add_argument("repo_id", metavar="REPO_ID", help="the Hub model repo, user/name (created if missing)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", dest="which", action="store_const", const=MODEL,
                       help="push model/ (the default where it exists): full weights, LoRA merged in")
    which.add_argument("--adapter", dest="which", action="store_const", const=ADAPTER,
                       help="push adapter/ (LoRA runs): the adapter alone, loaded with peft on top of the base model")
    parser.add_argument("--private", action="store_true", default=None, help="create the repo private")
    parser.add_argument("--revision", default=None, help="branch to push to (created if missing; default main)")
    parser.add_argument("--commit-message", default=None, help="the commit message")
    parser.add_argument("--results", nargs="+", default=(), metavar="PATH",
                        help="also put these crossalign results on the card (eval/compare JSON files, analysis folders); "
                             "those directly in OUTPUT_DIR are always included")


def run(args) -> int:
    from crossalign.cards import result_kind

    folder = pushable_folder(args.output_dir, args.which)
    repo_id = check_repo_id(args.repo_id)
    for p in args.results:
        if not Path(p).exists() or result_kind(Path(p)) is None:
            raise CrossalignError(f"--results {p} is not a crossalign eval or compare results JSON or an analysis folder")
    token = check_token()
    url = push(folder, repo_id, token, private=args.private, revision=args.revision,
               commit_message=args.commit_message, results=args.results)
    print(f"pushed {folder} to https://huggingface.co/{repo_id}: {url}")
    return 0
