"""Score reviews with the demo sentiment model on Ray Data: two actors, each loading the model once.

    pip install ".[ray]"
    python examples/ray_batch.py

The Ray instance is local and listens on 127.0.0.1 only (init_loopback_ray); on a real cluster call
ray.init(address=...) instead and keep the rest.
"""

from __future__ import annotations

from roformer_np.distributed import PipelinePredictor, init_loopback_ray

REVIEWS = ["这本书很好看", "质量太差了", "服务态度很好，下次还来", "等了一个小时还没上菜", "物流很快，包装完好",
           "剧情拖沓，看不下去", "性价比很高，推荐购买", "房间又小又脏"]


def main() -> None:
    init_loopback_ray(num_cpus=2)
    import ray  # after init_loopback_ray, which sets Ray's loopback switch before Ray reads it

    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come back in input order
        context.enable_progress_bars = False
        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(REVIEWS)])
        scored = ds.map_batches(
            PipelinePredictor,
            fn_constructor_kwargs={"task": "text-classification"},  # any pipeline task and its options
            compute=ray.data.ActorPoolStrategy(size=2),  # two actors (Ray's `concurrency=2`)
            batch_size=4,  # rows per batch handed to an actor
            batch_format="pandas",  # or "numpy" / "pyarrow": the result has the same type
        )
        for row in scored.iter_rows():
            print(f"{row['id']}  {row['label']:<8}  {row['score']:.2f}  {row['text']}")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
