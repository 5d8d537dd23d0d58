#!/usr/bin/env python3
"""Drives Debian's headless chromium through the inspector page for tests/inspector.

usage: drive_page.py ADMIN_URL DEAD_SPOOL_ID [--screenshot PNG]

Loads ADMIN_URL, reports what a person would see, optionally saves a screenshot, then
clicks the Retry button of DEAD_SPOOL_ID's row and reports the page it lands on. Prints one
JSON object on stdout; the Rust test asserts on it. Uses /usr/bin/chromium and
/usr/bin/chromedriver only: nothing is downloaded.
"""
import json
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def browser(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1600,1300",
                 f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)


def main():
    url, dead_id = sys.argv[1], sys.argv[2]
    shot = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--screenshot" else None
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            driver.get(url)
            seen = {
                "title": driver.title,
                "text": driver.find_element(By.TAG_NAME, "body").text,
                "source": driver.page_source,
                "images": len(driver.find_elements(By.TAG_NAME, "img")),
                "scripts": len(driver.find_elements(By.TAG_NAME, "script")),
            }
            if shot:
                driver.save_screenshot(shot)
            forms = driver.find_elements(By.CSS_SELECTOR, f"form[action='/spool/{dead_id}/retry']")
            seen["retry_forms"] = len(forms)
            if forms:
                forms[0].find_element(By.TAG_NAME, "button").click()
                seen["after_retry_url"] = driver.current_url
                seen["after_retry_title"] = driver.title
            print(json.dumps(seen))
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
