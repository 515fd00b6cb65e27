# The Airflow image the compose file runs: the official 3.3.2 image plus the pinned requirements, this provider
# and the emulator (its own distribution, `ess-emulator`: the compose file's ess-emulator service runs it).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml README.md /opt/ess/
COPY --chown=airflow:root plugins /opt/ess/plugins
COPY --chown=airflow:root emulator /opt/ess/emulator
COPY --chown=airflow:root deploy/seed_connection.py /opt/ess/deploy/
RUN pip install --no-cache-dir -r /opt/ess/requirements.txt -c /opt/ess/constraints.txt \
 && pip install --no-cache-dir --no-deps /opt/ess /opt/ess/emulator
