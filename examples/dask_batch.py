"""Tag entities with the demo NER model on Dask: a worker plugin loads the model once per worker process.

    pip install ".[dask]"
    python examples/dask_batch.py

The cluster is local and listens on 127.0.0.1 only (loopback_dask_cluster); with a real scheduler use
Client("tcp://scheduler:8786") instead and keep the rest.
"""

from __future__ import annotations

import dask.dataframe as dd
import pandas as pd
from distributed import Client

from roformer_np.distributed import PipelineWorkerPlugin, loopback_dask_cluster, predict_dataframe

TEXTS = ["张三昨天到了北京", "李四在上海工作", "王五明天去广州", "今天天气很好", "马六住在深圳", "我们在杭州见面"]


def main() -> None:
    with loopback_dask_cluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        plugin = PipelineWorkerPlugin("token-classification", aggregation_strategy="simple")
        client.register_plugin(plugin)  # each worker (and any that joins later) loads the model once
        ddf = dd.from_pandas(pd.DataFrame({"text": TEXTS}), npartitions=3)
        tagged = predict_dataframe(ddf, plugin).compute()  # ddf.map_partitions(predict_partition, ...)
        for text, entities in zip(tagged["text"], tagged["entities"]):
            found = ", ".join(f"{e['entity_group']}:{e['word'].replace(' ', '')}" for e in entities)
            print(f"{text}  ->  {found or '-'}")


if __name__ == "__main__":
    main()
