.PHONY: run test schema messages bench

run:            ## Run the product (SQLite, demo data, server + task cluster)
	bash scripts/run.sh

test:           ## Run the whole test suite against a throwaway PostgreSQL
	bash scripts/test.sh

schema:         ## Regenerate schema.yaml from the code
	DEBUG=1 .venv/bin/python manage.py spectacular --file schema.yaml --validate --fail-on-warn

messages:       ## Update and compile the German translations
	DEBUG=1 .venv/bin/python manage.py makemessages -l de --ignore=.venv --ignore=staticfiles
	DEBUG=1 .venv/bin/python manage.py compilemessages --ignore=.venv
