"""Drives a Vigil server through pytraccar, the client of Home Assistant's Traccar integration.

Run by server/tests/api/traccar_client.rs in a throw-away virtual environment. Reads
TRACCAR_HOST, TRACCAR_PORT, TRACCAR_USER, TRACCAR_PASSWORD; prints one JSON object with what
the client returned, for the Rust test to check.
"""
import asyncio
import json
import os
from importlib.metadata import version

import aiohttp
from pytraccar import ApiClient, TraccarAuthenticationException


async def main() -> None:
    host = os.environ["TRACCAR_HOST"]
    port = int(os.environ["TRACCAR_PORT"])
    user = os.environ["TRACCAR_USER"]
    password = os.environ["TRACCAR_PASSWORD"]
    out = {"pytraccar": version("pytraccar")}
    async with aiohttp.ClientSession() as session:
        wrong = ApiClient(host=host, port=port, username=user, password="wrong", client_session=session)
        try:
            await wrong.get_server()
            out["wrong_password"] = "accepted"
        except TraccarAuthenticationException:
            out["wrong_password"] = "refused"

        client = ApiClient(host=host, port=port, username=user, password=password, client_session=session)
        out["server"] = await client.get_server()
        out["devices"] = await client.get_devices()
        out["positions"] = await client.get_positions()
        out["geofences"] = await client.get_geofences()
        out["events"] = await client.get_reports_events(devices=[d["id"] for d in out["devices"]])

        loop = asyncio.get_running_loop()
        first = loop.create_future()

        async def on_message(data):
            if data.get("positions") and not first.done():
                first.set_result(data)

        task = asyncio.create_task(client.subscribe(on_message))
        out["socket"] = await asyncio.wait_for(first, 30)
        out["subscription_status"] = str(client.subscription_status)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    print(json.dumps(out))


asyncio.run(main())
