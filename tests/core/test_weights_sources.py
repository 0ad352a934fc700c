"""Where `weights get` may fetch from: https, http only from a mirror the user names, a folder given
as a plain path; never ftp:// or file:// (in any case), not even through a redirect; and a server
that sends more than the catalogue's size is cut off and refused. Local HTTP server only."""

from __future__ import annotations

import socket

import pytest
from weights_server import ARCH, WeightsServer, use_weights_file

from cnnstudio.cli import main
from cnnstudio.core.errors import UserError
from cnnstudio.core.weights import entry, fetch
from cnnstudio.core.weights.download import check_url, partial_path, size_limit
from cnnstudio.core.weights.entries import FILE_MB

NAME = "mobilenet-v3-small"


@pytest.fixture
def no_connection(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("scheme", ["ftp://", "FTP://", "file://", "FILE://", "File://", "gopher://"])
def test_other_schemes_are_refused_in_words(monkeypatch, tmp_path, no_connection, scheme):
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / file_name).write_bytes(data)  # a file:// source would find the file: it must not be read
    source = scheme + (str(stick) if scheme.lower() == "file://" else "127.0.0.1/models")
    with pytest.raises(UserError) as caught:
        fetch(NAME, source)
    text = str(caught.value)
    assert "https://" in text and "folder" in text and scheme.lower().rstrip(":/") in text.lower()
    assert not entry(NAME).target.exists() and not partial_path(entry(NAME)).exists()
    monkeypatch.setenv("CNNSTUDIO_WEIGHTS_FROM", source)
    assert main(["weights", "get", NAME]) == 2
    assert not entry(NAME).target.exists()


def test_https_always_and_http_only_from_a_mirror_the_user_named():
    check_url("https://download.pytorch.org/models/x.pth", explicit=False)
    check_url("https://mirror.example.org/x.pth", explicit=True)
    check_url("http://mirror.example.org/x.pth", explicit=True)
    with pytest.raises(UserError, match="http://"):
        check_url("http://download.pytorch.org/models/x.pth", explicit=False)


def test_a_redirect_to_ftp_is_refused(monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    with WeightsServer(data) as server:
        connect = socket.create_connection
        ports = []

        def record(address, *args, **kwargs):
            ports.append(address[1])
            return connect(address, *args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", record)
        with pytest.raises(UserError, match="ftp") as caught:
            fetch(NAME, server.base("to-ftp"), timeout=5)
    assert "https://" in str(caught.value)
    assert 21 not in ports  # no FTP connection was tried
    assert not entry(NAME).target.exists()


@pytest.mark.parametrize("route", ["padded", "toobig"])
def test_a_server_sending_more_than_the_file_is_cut_off(monkeypatch, tmp_path, route):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    monkeypatch.setitem(FILE_MB, ARCH, len(data) / 1e6)  # the catalogue's size of this file
    item = entry(NAME)
    limit = size_limit(item)
    assert item.expected_bytes < limit < item.expected_bytes + (4 << 20)
    with WeightsServer(data) as server:
        with pytest.raises(UserError, match="more than") as caught:
            fetch(NAME, server.base(route), timeout=5)
        sent = server.sent
    assert f"{item.megabytes} MB" in str(caught.value)
    assert sent < 8 << 20  # reading stopped: the server could not send all of it
    assert not item.target.exists() and not partial_path(item).exists()


def test_a_folder_file_bigger_than_the_catalogue_says_is_refused(monkeypatch, tmp_path):
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    monkeypatch.setitem(FILE_MB, ARCH, 1.0)
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / file_name).write_bytes(data)
    with pytest.raises(UserError, match="more than"):
        fetch(NAME, str(stick))
    assert not entry(NAME).target.exists()
