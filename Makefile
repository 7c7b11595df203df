# make run  : fresh clone -> .venv, install, migrate SQLite, load the demo study, serve :5000
# make test : fresh clone -> .venv, install, run the whole suite
# make e2e  : build the wheel, deploy it as deploy/ says on loopback, test it over https
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PO := pro_app/translations/zh_Hans_CN/LC_MESSAGES/messages.po
MO := $(PO:.po=.mo)

.PHONY: run test e2e bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(MO): $(PO) $(STAMP)
	$(BIN)/pybabel compile --statistics -d pro_app/translations -D messages

# The demo surfaces (/dev/phone, pro-app demo) exist only in demo mode; the demo's staff sign
# in with a password alone so a newcomer needs no authenticator app (production requires one).
run: export PRO_DEMO = 1
run: export PRO_REQUIRE_2FA = 0
run: $(STAMP) $(MO)
	$(BIN)/pro-app db upgrade
	$(BIN)/pro-app demo
	$(BIN)/pro-app serve

test: $(STAMP) $(MO)
	$(BIN)/ruff check pro_app bench tests e2e setup.py wsgi.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The deployment of deploy/ from a wheel, behind nginx over TLS, on PostgreSQL and Redis (e2e/run.sh).
e2e: $(STAMP)
	bash e2e/run.sh $(PYTEST_ARGS)

bench: $(STAMP) $(MO)
	$(BIN)/python bench/run.py

# Re-extract translatable text after changing templates or code.
messages: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -k _l -o pro_app/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i pro_app/translations/messages.pot -d pro_app/translations

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis $(MO)
