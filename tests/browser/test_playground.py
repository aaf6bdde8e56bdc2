"""The playground in headless Chromium: generate, pin, walk, do arithmetic, train; screenshots go to
test-artifacts/browser/."""

from __future__ import annotations

import subprocess

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import ARTIFACTS


def open_playground(browser, url: str, model: str = "bars-cond", label: str | None = "bar-3") -> None:
    browser.get(url + "/")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    assert browser.find_element(By.ID, "error").text == ""
    Select(browser.find_element(By.ID, "model")).select_by_value(model)
    if label is not None:
        Select(browser.find_element(By.ID, "label")).select_by_value(label)
    wait_for_images(browser, "#grid img")


def wait_for_images(browser, selector: str, count: int | None = None, timeout: float = 30) -> list:
    def loaded(d):
        images = d.find_elements(By.CSS_SELECTOR, selector)
        done = d.execute_script("return [...document.querySelectorAll(arguments[0])]"
                                ".every(i => i.complete && i.naturalWidth > 0)", selector)
        return images if images and done and (count is None or len(images) == count) else False

    return WebDriverWait(browser, timeout).until(loaded)


def pin(browser, seeds: list[int]) -> None:
    for seed in seeds:
        browser.find_element(By.CSS_SELECTOR, f'#grid figure[data-seed="{seed}"]').click()


def test_the_page_lists_models_and_shows_a_grid_by_seed_with_its_curl_command(browser, stack, tmp_path):
    open_playground(browser, stack)
    names = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "model")).options]
    assert {"bars", "bars-cond"} <= set(names)
    tiles = wait_for_images(browser, "#grid img", count=16)
    assert "label=bar-3" in tiles[0].get_attribute("src")
    curl = browser.find_element(By.ID, "curl").text
    assert curl.startswith(f"curl -s -X POST {stack}/generate") and '"labels":["bar-3"]' in curl
    # the command on screen works as shown
    subprocess.run(["bash", "-c", curl], cwd=tmp_path, check=True, timeout=30)
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    browser.save_screenshot(str(ARTIFACTS / "01-grid.png"))


def test_truncation_and_an_unconditional_model_change_the_image_urls(browser, stack):
    open_playground(browser, stack, model="bars", label=None)
    assert not browser.find_element(By.ID, "label-box").is_displayed()
    slider = browser.find_element(By.ID, "truncation")
    browser.execute_script("arguments[0].value = 0.5; arguments[0].dispatchEvent(new Event('change'))", slider)
    tiles = wait_for_images(browser, "#grid img")
    assert "truncation=0.5" in tiles[0].get_attribute("src") and "label=" not in tiles[0].get_attribute("src")


def test_pinning_two_images_and_walking_animates_and_offers_gif_and_webp(browser, stack):
    open_playground(browser, stack)
    pin(browser, [2, 5])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pinned .chip")) == 2
    # the walk goes from the first pin to the second without choosing
    assert Select(browser.find_element(By.ID, "walk-b")).first_selected_option.text == "5 (bar-3)"
    browser.find_element(By.ID, "walk-steps").clear()
    browser.find_element(By.ID, "walk-steps").send_keys("6")
    browser.find_element(By.ID, "walk").click()
    wait_for_images(browser, "#walk-strip img", count=6)
    frame = browser.find_element(By.ID, "walk-frame")
    seen = set()
    WebDriverWait(browser, 10).until(lambda d: seen.add(frame.get_attribute("data-frame")) or len(seen) >= 3)
    for fmt, magic in (("gif", "GIF8"), ("webp", "RIFF")):
        link = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, f"walk-{fmt}").is_displayed()
                                                and d.find_element(By.ID, f"walk-{fmt}"))
        head = browser.execute_async_script(
            "const done = arguments[1]; fetch(arguments[0]).then(r => r.arrayBuffer())"
            ".then(b => done(String.fromCharCode(...new Uint8Array(b.slice(0, 4)))))", link.get_attribute("href"))
        assert head == magic
    assert '"method":"slerp"' in browser.find_element(By.ID, "curl").text
    browser.save_screenshot(str(ARTIFACTS / "02-walk.png"))


def test_arithmetic_of_pinned_groups_shows_terms_result_and_variations(browser, stack):
    open_playground(browser, stack)
    pin(browser, [1, 2, 3, 4, 5, 6])
    for term, seeds in (("a", (1, 2)), ("b", (3, 4)), ("c", (5, 6))):
        for seed in seeds:
            browser.find_element(By.CSS_SELECTOR, f'#term-{term} .seeds input[value="{seed}"]').click()
    browser.find_element(By.ID, "arith").click()
    wait_for_images(browser, "#arith-terms img", count=3)
    wait_for_images(browser, "#arith-variations img", count=8)
    assert browser.find_element(By.ID, "arith-result").is_displayed()
    assert browser.find_element(By.ID, "error").text == ""
    curl = browser.find_element(By.ID, "curl").text
    assert '"weight":-1' in curl and curl.count('"label":"bar-3"') == 3  # each term keeps the class picked
    browser.save_screenshot(str(ARTIFACTS / "03-arithmetic.png"))


def test_a_job_trained_from_the_form_shows_progress_and_lands_in_the_model_picker(browser, stack):
    open_playground(browser, stack)
    fields = {"train-model": "browser-gan", "train-steps": "20", "train-batch": "8", "train-size": "32",
              "train-width": "8"}
    for field, text in fields.items():
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(text)
    Select(browser.find_element(By.ID, "train-dataset")).select_by_value("synthetic")
    Select(browser.find_element(By.ID, "train-architecture")).select_by_value("dcgan")
    browser.find_element(By.ID, "train-submit").click()
    curl = WebDriverWait(browser, 10).until(lambda d: "/train" in d.find_element(By.ID, "curl").text
                                            and d.find_element(By.ID, "curl").text)
    assert '"steps":20' in curl and '"model":"browser-gan"' in curl
    status = browser.find_element(By.ID, "train-status")
    WebDriverWait(browser, 120).until(lambda d: status.get_attribute("data-version"))
    assert status.get_attribute("data-version") == "000002" and "browser-gan" in status.text
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.get_attribute("value") == "browser-gan"
    assert browser.find_element(By.ID, "train-progress").get_attribute("value") == "20"
    wait_for_images(browser, "#grid img")
    assert "browser-gan" in browser.find_element(By.CSS_SELECTOR, "#grid img").get_attribute("src")
    assert browser.find_element(By.ID, "train-samples").is_displayed()
    # once it lands the grid shows the new model, and the curl command follows what is on screen
    assert '"model":"browser-gan","version":"000002"' in browser.find_element(By.ID, "curl").text
    browser.save_screenshot(str(ARTIFACTS / "04-training.png"))


def test_compare_renders_the_same_seeds_through_every_model_in_the_picked_class(browser, stack):
    open_playground(browser, stack)
    names = {o.get_attribute("value") for o in Select(browser.find_element(By.ID, "model")).options}
    tiles = wait_for_images(browser, "#compare-table img", count=8 * len(names))
    rows = browser.find_elements(By.CSS_SELECTOR, "#compare-table tr")
    assert {row.get_attribute("data-model") for row in rows} == names
    for row in rows:
        sources = [img.get_attribute("src") for img in row.find_elements(By.TAG_NAME, "img")]
        assert [s.split("/seeds/")[1].split(".png")[0] for s in sources] == [str(i) for i in range(8)]
    Select(browser.find_element(By.ID, "compare-label")).select_by_value("bar-6")
    wait_for_images(browser, "#compare-table tr[data-model='bars-cond'] img", count=8)
    conditional = browser.find_element(By.CSS_SELECTOR, "#compare-table tr[data-model='bars-cond'] img")
    unconditional = browser.find_element(By.CSS_SELECTOR, "#compare-table tr[data-model='bars'] img")
    assert "label=bar-6" in conditional.get_attribute("src") and "label=" not in unconditional.get_attribute("src")
    assert len(tiles) == 8 * len(names)
    browser.save_screenshot(str(ARTIFACTS / "06-compare.png"))


def test_inside_the_network_shows_the_filters_and_the_maps_of_a_chosen_layer_seed_and_class(browser, stack, tmp_path):
    open_playground(browser, stack)
    [filters] = wait_for_images(browser, "#inside-filters")
    assert "/models/bars-cond/versions/" in filters.get_attribute("src")
    assert filters.get_attribute("naturalWidth") != "0"
    layer = Select(browser.find_element(By.ID, "inside-layer"))
    WebDriverWait(browser, 30).until(lambda d: layer.options)
    assert [o.get_attribute("value") for o in layer.options] == ["project", "up1", "up2", "image"]
    assert browser.find_element(By.ID, "inside-label-box").is_displayed()

    browser.find_element(By.ID, "inside-seed").clear()
    browser.find_element(By.ID, "inside-seed").send_keys("4")
    Select(browser.find_element(By.ID, "inside-label")).select_by_value("bar-6")
    layer.select_by_value("up2")
    browser.find_element(By.ID, "inside-show").click()
    maps = browser.find_element(By.ID, "inside-maps")
    WebDriverWait(browser, 30).until(lambda d: maps.get_attribute("data-layer") == "up2")
    wait_for_images(browser, "#inside-maps")
    assert "up2: the first" in browser.find_element(By.ID, "inside-info").text
    curl = browser.find_element(By.ID, "curl").text
    assert curl.startswith(f"curl -s -X POST {stack}/visualize")
    assert '"seed":4' in curl and '"label":"bar-6"' in curl and '"layer":"up2"' in curl
    subprocess.run(["bash", "-c", curl], cwd=tmp_path, check=True, timeout=30)  # the command on screen works
    assert (tmp_path / "activations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    browser.save_screenshot(str(ARTIFACTS / "07-inside.png"))

    # another model offers its own layers, and no class
    Select(browser.find_element(By.ID, "model")).select_by_value("bars")
    WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: [o.get_attribute("value") for o in layer.options] == ["project", "up1", "image"])
    assert not browser.find_element(By.ID, "inside-label-box").is_displayed()
    WebDriverWait(browser, 30).until(lambda d: "/models/bars/versions/" in filters.get_attribute("src"))
    assert browser.find_element(By.ID, "error").text == ""


def test_a_picture_is_projected_and_walked_from(browser, stack, tmp_path):
    import numpy as np

    from models.images import encode_png

    picture = tmp_path / "bars.png"
    pixels = np.zeros((32, 32, 1), np.uint8)
    pixels[:, 8:24] = 255  # a bright bar, the kind of image the tiny model was trained on
    picture.write_bytes(encode_png(pixels))
    open_playground(browser, stack)
    assert browser.find_element(By.ID, "project-label-box").is_displayed()
    Select(browser.find_element(By.ID, "project-label")).select_by_value("bar-2")
    steps = browser.find_element(By.ID, "project-steps")
    steps.clear()
    steps.send_keys("20")
    browser.find_element(By.ID, "project-file").send_keys(str(picture))
    browser.find_element(By.ID, "project").click()
    wait_for_images(browser, "#project-result")
    info = browser.find_element(By.ID, "project-info")
    WebDriverWait(browser, 30).until(lambda d: "mean squared error" in info.text)
    assert info.text.startswith("20 steps") and browser.find_element(By.ID, "error").text == ""

    browser.find_element(By.ID, "project-walk").click()
    wait_for_images(browser, "#project-strip img", count=8)
    curl = browser.find_element(By.ID, "curl").text
    assert curl.startswith(f"curl -s {stack}/project -F image=@") and "label='bar-2'" in curl
    answer = subprocess.run(["bash", "-c", curl], cwd=tmp_path, check=True, timeout=60, capture_output=True)
    assert b'"latent"' in answer.stdout  # the command on screen works
    browser.save_screenshot(str(ARTIFACTS / "08-projection.png"))
