"""Every user-facing string, one catalogue per language (``ZH``, ``EN``), and :func:`t` to read it.

Tables, figures, target gaps, worst-unit explanations, the report page and its methods
section all take their words from here, so ``circles report --lang en`` after a Chinese run
shows no Chinese except the data's own names. Keys are dotted (``gap.slots``); a template's
``{fields}`` are filled by ``t(key, lang, **fields)``. Both catalogues have exactly the same
keys (tests/test_i18n.py checks it).

Facility kind names come from the vocabulary in :data:`circles.io.facilities.KINDS`
(``kind.<key>``), which also matches the gazetteer's Chinese kind cells.
"""

from __future__ import annotations

import math

from circles.kinds import KINDS

LANGUAGES = ("zh", "en")

ZH: dict[str, str] = {
    # ---- population groups (in sentences and titles)
    "group.elderly": "老年人(60+)",
    "group.infants": "婴幼儿(0-3岁)",
    "group.total": "常住人口",
    "group.both": "老年人与婴幼儿",
    "kind.any": "任一相应服务设施",
    "kind.any_elderly": "养老服务",
    "kind.any_childcare": "托育服务",
    # ---- table column labels (circles/labels.py)
    "col.unit_id": "单元编号",
    "col.unit_name": "单元名称",
    "col.parent": "所属街道/区",
    "col.pop_total": "常住人口（估算）",
    "col.pop_elderly": "老年人口(60+)",
    "col.pop_infants": "婴幼儿(0-3岁，估算)",
    "col.n_cells": "人口网格数",
    "col.beds_inside": "单元内养老床位",
    "col.slots_inside": "单元内托位",
    "col.beds_per_1000_elderly": "每千名老年人床位（单元内）",
    "col.slots_per_1000_total": "每千人口托位（单元内）",
    "col.sfca_beds_per_1000_elderly": "每千名老年人可达床位（2SFCA）",
    "col.e2sfca_beds_per_1000_elderly": "每千名老年人可达床位（高斯E2SFCA）",
    "col.sfca_slots_per_1000_total": "每千人口可达托位（2SFCA）",
    "col.e2sfca_slots_per_1000_total": "每千人口可达托位（高斯E2SFCA）",
    "col.n_fail": "未达标指标数",
    "col.cov": "{t}分钟内可达{kind}的{group}比例{after}",
    "col.after_suffix": "（新建后）",
    "col.time": "{group}到最近设施{stat}时间（分钟）",
    "stat.mean": "平均",
    "stat.median": "中位",
    "stat.p90": "90%分位",
    "col.beyond": "{t}分钟外的{group}",
    "col.unreached": "无法到达任何设施的{group}",
    "col.status": "达标情况：{indicator}",
    "col.gap": "缺口：{indicator}",
    "col.flat_suffix": "（平地）",
    "col.lost_to_slope": "因坡度失去{t}分钟服务圈的{group}",
    "col.gained_by_slope": "因下坡进入{t}分钟服务圈的{group}",
    # ---- target gaps (circles/targets.py)
    "gap.people": "还需 {n} 人",
    "gap.beds": "还需 {n} 张床位",
    "gap.slots": "还需 {n} 个托位",
    "gap.communities": "还需 {n} 个社区",
    "gap.streets": "还需 {n} 个街道",
    "status.pass": "达标",
    "status.not assessable": "无法评估",
    "na.no_unit_value": "无法评估：没有 {column} 为 {values} 的单元",
    "na.no_kind": "无法评估：所有设施名录中都没有{names}",
    "na.no_nursery_class": "无法评估：名录中有幼儿园，但都未列托班（托位）",
    "na.no_nursery_class_nor": "无法评估：名录中有幼儿园，但都未列托班（托位），且所有设施名录中都没有{names}",
    "na.needs_polygons": "无法评估：需要社区边界（units.path，且未设 communities = false）",
    "na.needs_streets": "无法评估：需要各单元所属街道（单元文件的 街道/parent 列，或 units.parents 街道边界）",
    "na.no_attribute": "无法评估：分析单元没有 `{column}` 属性",
    "na.no_column": "无法评估：设施名录没有 {column} 列",
    "na.total_study_only": "全市总量指标：只在研究区层面比较",
    "na.not_comparable": "不可比较：研究区不是全市，且研究文件未给出全市人口（[targets] city_population），"
                         "全市是研究区时写 [targets] whole_city = true",
    "total.whole_city": "研究区即全市（[targets] whole_city = true），按规划总量比较",
    "total.scaled": "按研究区占全市常住人口比例折算：{value} × {pop} / {city}（{share}）",
    "gap.affordable_slots": "还需 {n} 个托位转为普惠",
    "gap.public_slots": "还需 {n} 个托位转为公办",
    "gap.nursing_beds": "还需 {n} 张床位转为护理型",
    "gap.meal_points": "还需 {n} 个助餐点",
    "rep.plan_total": "全市规划 {value}，按研究区常住人口占比（{share}）折算",
    "rep.floor_per_slot": "每托位建筑面积",
    "siting.too_small": "{preset} 要求新建托育机构至少 {min} 个托位（{source}），siting.slots = {slots} 不足；"
                        "把 [siting] slots 设为 {min} 或以上",
    "siting.floor_ok": "每托位 {per} m²，达到 ≥{min} m²",
    "siting.floor_short": "每托位 {per} m²，低于 {min} m²",
    "status.fail": "未达标",
    "status.no population": "无人口",
    # ---- worst units (circles/summary.py)
    "worst.left_out": "{e} 名老年人、{i} 名婴幼儿在{t}分钟步行范围外（覆盖率 老年人 {ce}、婴幼儿 {ci}）",
    "worst.median": "到最近养老设施中位时间 {te}，到最近托育设施 {ti}",
    "worst.unreached": "{n} 名老年人所在道路片段上没有养老设施或离路过远",
    "worst.unreached_limit": "{n} 名老年人超过 {m} 分钟搜索上限、所在道路片段上没有养老设施或离路过远",
    "worst.sep": "；",
    "minutes": "{x} 分钟",
    "unreachable": "不可达",
    "beyond_limit": "超过 {m} 分钟",
    # ---- figures (circles/figures.py)
    "fig.xlabel": "步行到最近服务设施的时间（分钟）",
    "fig.ylabel": "覆盖人口比例",
    "fig.before": "现状",
    "fig.after": "新建后",
    "fig.left": "{t}分钟外的人数",
    "fig.bars": "覆盖缺口最大的单元",
    "fig.north": "北",
    "fig.map": "{g}{t}分钟步行覆盖率",
    "fig.band": "步行速度 {lo}–{hi} m/s",
    # ---- report page
    "rep.cov": "覆盖率",
    "rep.units": "分析单元",
    "rep.unit": "单元",
    "rep.parent": "所属街道/区",
    "rep.sites": "建议新建选址",
    "rep.pop": "人口网格",
    "rep.iso": "等时圈",
    "rep.worst": "覆盖最差的单元",
    "rep.targets": "规划指标",
    "rep.measured": "现状",
    "rep.target": "目标",
    "rep.status": "状态",
    "rep.sources": "数据来源",
    "rep.min": "分钟",
    "rep.within_cov": "{g} {t}分钟内覆盖率",
    "rep.within": "{t}分钟内",
    "rep.pair_walk": "另：步行可达人口占比 {v}",
    "rep.pair_sfca": "另：可达（2SFCA）{v}",
    "rep.gain": "新增覆盖",
    "rep.people": "人",
    "rep.illustrative": "设施名录为示意数据（非真实设施），仅演示方法",
    "rep.kind": "类型",
    "rep.capacity": "规模",
    "rep.address": "地址",
    "rep.name": "名称",
    "rep.summary": "摘要",
    "rep.estimated": "估算",
    "rep.pass_fail": "达标/未达标（{targets}）",
    "rep.toggle": "收起/展开",
    "rep.walk_speed": "步行速度",
    "rep.population": "人口",
    "rep.network": "路网：{nodes} 个节点，{edges} 条路段，{km} 公里，{pieces} 个连通片（最大片占节点 {share}），{joins} 处接驳",
    "rep.offroad_cells": "离道路超过 {m} 米的人口网格：{n} 个（{people} 人）",
    "rep.joint": "一老一小联合选址",
    "rep.after": "新建后",
    "rep.beds_unit": "床",
    "rep.slots_unit": "托位",
    "rep.no_candidates": "所有单元均已全覆盖：未生成候选选址",
    "rep.credits": "数据来源与许可",
    "rep.roads": "路网（底图）",
    "rep.water": "水域（无人口栅格）",
    "rep.districts": "街道/区界",
    "rep.unit_names": "单元名称",
    "rep.site_named": "{name}",
    "site.near_in": "{road} 旁 · {unit}",
    "site.near": "{road} 旁",
    "site.node": "路网节点 {node}",
    "site.n": "选址 {n}",
    "rep.site_rank": "建议新建{kind} #{rank}",
    "rep.candidate": "候选点",
    "rep.sites_whatif": "建议新建选址（点击试算，{n}）",
    "rep.candidates": "候选点（点击加入/移出）",
    "rep.band_title": "步行速度敏感性（{lo}–{hi} m/s）",
    # ---- what-if panel
    "whatif.title": "假设新建（点击地图上的选址或候选点）",
    "whatif.help": "点击建议选址或候选点即可加入/移出，下方数字立即按所选方案重新计算（无需联网）。",
    "whatif.chosen": "已选 {n} 处",
    "whatif.chosen_one": "已选 1 处",
    "whatif.clear": "清空",
    "whatif.suggested": "选用全部建议选址",
    "whatif.study": "全研究区",
    "whatif.now": "现状",
    "whatif.after": "新建后",
    "whatif.units_changed": "覆盖率提高的单元",
    "whatif.none": "尚未选择任何选址",
    "whatif.not_recomputed": "此指标不在页面内重算（见“新建后”一栏）",
    "whatif.units_fail": "{n} 个单元未达标",
    "whatif.export": "导出所选选址：",
    "whatif.link_bad": "链接中有 {n} 项无法识别，已忽略",
    "print.north": "北",
    "print.date": "打印日期",
    "legend.title": "图例",
    "fig.key_facilities": "现有{g}服务设施",
    "fig.key_sites": "建议新建选址",
    "fig.key_nopop": "无人口的单元",
    "legend.site": "建议新建选址（数字为排名，颜色为设施类型；点击加入/移出试算）",
    "legend.candidate": "候选点（点击加入试算）",
    "legend.chosen": "已选候选点",
    "legend.iso": "设施 {t} 分钟步行范围（越近颜色越深）",
    "legend.cov": "单元着色：{t} 分钟内覆盖率；达标图层为达标指标占比",
    "legend.nopop": "无人口的单元",
    "legend.cells": "人口栅格：老年人（紫）/婴幼儿（绿），越深人越多",
    "warn.kg_places": "{kindergartens} 所幼儿园的托位数共 {places} 个未计入 3 岁以下托位：幼儿园只按托班托位（托班列）计入，其学位面向 3–6 岁",
    "methods.kg_places": "幼儿园：只有托班托位（托班列）计为 3 岁以下托位；本研究 {kindergartens} 所幼儿园的托位数列共 {places} 个未计入（幼儿园学位面向 3–6 岁，不是托位）。",
    "rep.kg_not_counted": "未计入 3 岁以下托位：幼儿园只按托班托位计入",
    "rep.places": "托位数（表中）",
    "equity.shortfall": "按全区覆盖率计少覆盖 {n} 人",
    # ---- equity view
    "equity.title": "公平性：按单元覆盖率十分位",
    "equity.decile": "第{d}十分位",
    "equity.behind": "落后最多的单元",
    "equity.share": "覆盖率",
    "equity.people": "范围外人数",
    "equity.note": "单元按{g}{t}分钟覆盖率从低到高分为十组，每组显示该组人口合计的覆盖率。",
    "equity.slope": "坡度使{t}分钟服务圈损失最多的单元",
    "equity.slope_item": "平地 {flat} → 考虑坡度 {slope}，{n} 人失去",
    # ---- credits
    "credit.not_stated": "{file}（来源未注明）",
    "credit.files": "{n} 个栅格 {first} … {last}",
    "credit.tags": "GeoTIFF 元数据",
    "credit.network": "路网",
    "credit.facilities": "设施名录",
    "credit.population": "人口",
    "credit.units": "分析单元",
    "credit.parents": "街道/区界",
    "credit.area": "研究区范围",
    "credit.dem": "高程（坡度）",
    # ---- methods section
    "methods.title": "方法与规则",
    "methods.walk_speed": "步行速度 {v} m/s（老年人及带婴幼儿的照护者），所有路段与离路段均按此速度。",
    "methods.drive_speed": "车行模式：道路按等级取车速（单行道只可顺行），上下车前后的步行段按 {v} m/s。",
    "methods.walk_roads": "可步行道路：{allowed}。不可步行的道路等级（OSM highway）：{banned}；标注 foot 或 access 为 {closes} 的道路不计。",
    "methods.allowed": "除下列等级外的所有道路（人行道、小路、台阶、步行街、居住区道路、各级干道等）；标注 foot={opens} 的道路一律可走",
    "methods.allowed_plain": "除下列等级外的所有道路（人行道、小路、台阶、步行街、居住区道路、各级干道等）",
    "methods.walk_roads_gis": "自有道路中心线：按“{col}”列的道路等级取舍，高速与快速路不可步行。",
    "methods.offroad": "住处（人口网格中心）与设施先沿直线走到最近道路（离路段），按步行速度计时；离道路超过 {m} 米的网格不接入路网，计为不可达，并在报告中单独列出。",
    "methods.times": "网络时间为沿路网的最短路径时间（精确 Dijkstra），从设施出发，到人口网格为止；“{t}分钟覆盖”即到最近同类设施的时间不超过 {t} 分钟。",
    "methods.search_none": "搜索不设上限：每处网格到最近设施的时间都被算出。",
    "methods.search_limit": "搜索上限 {m} 分钟：此时间以内的时间都是精确的，超过的记为“超过 {m} 分钟”（不可达）。",
    "methods.catchment": "2SFCA 的服务范围为 {t} 分钟；选址候选点与选址覆盖范围为 {s} 分钟。",
    "methods.elderly": "老年人：年龄 {a} 岁及以上各年龄段栅格之和。",
    "methods.elderly_share": "老年人（估算）：总人口 × {share}（数据无年龄分组）。",
    "methods.infants": "婴幼儿 0-3 岁（估算）：{r} × 20-39 岁女性（数据无 5 岁以下分组）。",
    "methods.infants_band": "婴幼儿 0-3 岁：0-4 岁组 × 3/5（0、1、2 岁三个出生队列）。",
    "methods.infants_share": "婴幼儿（估算）：总人口 × {share}（数据无年龄分组）。",
    "methods.total": "常住人口（估算）：20 岁及以上人口 ÷ (1 − {u})（数据无 20 岁以下分组）。",
    "methods.total_bands": "常住人口：各年龄段栅格之和。",
    "methods.total_raster": "常住人口：总人口栅格 {f}（实测）。",
    "methods.total_raster_bands": "常住人口：总人口栅格 {f}（实测）；老年人与婴幼儿取自各年龄段栅格。",
    "col.pop_total.measured": "常住人口",
    "col.pop_elderly.measured": "老年人口(60+)",
    "col.pop_infants.measured": "婴幼儿(0-3岁)",
    "col.pop_elderly.estimated": "老年人口(60+，估算)",
    "col.pop_total.estimated": "常住人口（估算）",
    "col.pop_infants.estimated": "婴幼儿(0-3岁，估算)",
    "warn.unit_repaired": "单元 {unit} {name} 的边界无效（{reason}，位置 经度 {lon}，纬度 {lat}），已修复：原边界围合面积 {before}，修复后 {after} 平方米；{dropped} 平方米不再属于任何单元，其中住有 {people} 人，现已不在任何单元内；该边界凸包内另有 {hull} 人不在任何单元内（原边界或本应包括他们）。",
    "warn.area_unmeasurable": "无法计算",
    "warn.no_unit_total": "修复 {n} 个无效单元后，研究区内有 {inside} 人不在任何单元内；修复时舍去的部分住有 {dropped} 人（{where}）。",
    "warn.repair_left_out": "修复 {n} 个无效单元时舍去的部分住有 {dropped} 人（{where}）。",
    "warn.dropped_outside_area": "研究区为各单元之并，这些人已不在研究区内",
    "warn.units_outside": "单元文件中有 {n} 个单元位于研究区之外，未计入：{names}",
    "warn.dropped_inside_area": "在研究区内的已计入上述人数",
    "methods.ind.cov": "覆盖率：某类人群中到最近相应设施步行时间不超过阈值的人数 ÷ 该人群总数；无该人群的单元记为“无人口”，不计达标与否。",
    "methods.ind.inside": "单元内床位/托位：位于单元内的设施规模之和 ÷ 单元人口 × 1000。",
    "methods.ind.sfca": "可达床位/托位（2SFCA，Luo & Wang 2003）：每处设施的规模按其 {t} 分钟范围内的需求人口分摊，居民可达的分摊量之和 × 1000；E2SFCA 另加高斯距离衰减。",
    "methods.ind.gap": "缺口：比例指标为“目标 × 人群 − 已覆盖人数”，千人指标为“(目标 − 现状) × 人口 ÷ 1000”，向上取整。",
    "methods.ind.worst": "覆盖最差的单元按 {t} 分钟外的老年人与婴幼儿人数之和排序（不按比例，以免人口很少的边角单元排在前面）。",
    "methods.speed_band": "曲线阴影：步行速度 {lo}–{hi} m/s 时的覆盖率范围（步行模式下每段时间都与速度成反比，按 1/v 换算）。",
    "methods.whatif": "假设新建：候选点到人口网格的 {t} 分钟覆盖关系已在运行时算好（稀疏矩阵），页面内按所选方案重算覆盖率与指标，不需服务器。",
    "methods.slope": "坡度（高程数据 {dem}）：沿每条路段每隔不超过 {step} 米取高程（双线性插值），每段步行速度按 Tobler 徒步函数并以平地速度 {v} m/s 为准：v = {v} × exp(−{k} × |g + {g0}|) ÷ exp(−{k0})，g 为该段坡度（升高 ÷ 水平距离），上坡与下坡时间不同；台阶：水平距离按平地速度，升降按 {sv} m/s。离路段与高程数据范围外的路段（占路长 {out}）按平地速度。“平地”列为不考虑坡度的同一覆盖率。",
    "brief.brief": "规划简报",
    "brief.headline": "主要数字",
    "brief.date": "生成日期",
    "brief.units_fail": "未达标单元数",
    "brief.gap": "差距",
    "brief.indicator": "指标",
    "brief.unit": "单元",
    "brief.code": "编码",
    "brief.parent": "所属",
    "brief.why": "原因",
    "brief.rank": "序号",
    "brief.kind": "类型",
    "brief.capacity": "规模",
    "brief.lonlat": "经度, 纬度 (WGS84)",
    "brief.figures": "图",
    "brief.after": "新建建议选址后",
    "brief.none": "无",
    "brief.targets_pass": "达标指标",
    "brief.sites_n": "建议新建 {n} 处：{kinds}",
    "brief.cov_line": "{g} {t}分钟步行覆盖率 {v}",
    "brief.pop_line": "人口 {total}，其中老年人 {e}、婴幼儿 {i}",
    "brief.page": "第 {n} 页",
    "brief.figure.coverage_curve": "覆盖率随步行时间的变化",
    "brief.figure.units_left_out": "各单元未覆盖人数",
    "brief.figure.map_elderly": "老年人 {t} 分钟覆盖（含建议选址）",
    "brief.figure.map_infants": "婴幼儿 {t} 分钟覆盖（含建议选址）",
}

EN: dict[str, str] = {
    "group.elderly": "elderly (60+)",
    "group.infants": "infants (0-3)",
    "group.total": "residents",
    "group.both": "elderly and infants",
    "kind.any": "any service for the group",
    "kind.any_elderly": "elderly services",
    "kind.any_childcare": "childcare",
    "col.unit_id": "Unit",
    "col.unit_name": "Unit name",
    "col.parent": "Street / district",
    "col.pop_total": "Residents (estimated)",
    "col.pop_elderly": "Elderly (60+)",
    "col.pop_infants": "Infants 0-3 (estimated)",
    "col.n_cells": "Population cells",
    "col.beds_inside": "Elderly beds inside",
    "col.slots_inside": "Nursery slots inside",
    "col.beds_per_1000_elderly": "Beds per 1,000 elderly (inside unit)",
    "col.slots_per_1000_total": "Slots per 1,000 residents (inside unit)",
    "col.sfca_beds_per_1000_elderly": "Reachable beds per 1,000 elderly (2SFCA)",
    "col.e2sfca_beds_per_1000_elderly": "Reachable beds per 1,000 elderly (Gaussian E2SFCA)",
    "col.sfca_slots_per_1000_total": "Reachable slots per 1,000 residents (2SFCA)",
    "col.e2sfca_slots_per_1000_total": "Reachable slots per 1,000 residents (Gaussian E2SFCA)",
    "col.n_fail": "Targets failed",
    "col.cov": "Share of {group} within {t} min of {kind}{after}",
    "col.after_suffix": " (after new sites)",
    "col.time": "{stat} time of {group} to the nearest service (min)",
    "stat.mean": "mean",
    "stat.median": "median",
    "stat.p90": "p90",
    "col.beyond": "{group} beyond {t} min",
    "col.unreached": "{group} who reach no service",
    "col.status": "status: {indicator}",
    "col.gap": "gap: {indicator}",
    "col.flat_suffix": " (flat ground)",
    "col.lost_to_slope": "{group} who lose the {t}-min circle to slope",
    "col.gained_by_slope": "{group} who gain the {t}-min circle walking downhill",
    "gap.people": "needs {n} more people",
    "gap.beds": "needs {n} more beds",
    "gap.slots": "needs {n} more slots",
    "gap.communities": "needs {n} more communities",
    "gap.streets": "needs {n} more streets",
    "status.pass": "pass",
    "status.not assessable": "not assessable",
    "na.no_unit_value": "not assessable: no unit has {column} in {values}",
    "na.no_kind": "not assessable: no {names} in any gazetteer",
    "na.no_nursery_class": "not assessable: kindergartens are present but none lists nursery-class places "
                           "(under-3 classes)",
    "na.no_nursery_class_nor": "not assessable: kindergartens are present but none lists nursery-class places "
                               "(under-3 classes), and no {names} is in any gazetteer",
    "na.needs_polygons": "not assessable: needs community polygons (units.path, without communities = false)",
    "na.needs_streets": "not assessable: needs each unit's street (a parent or street column in the units file, "
                        "or units.parents street polygons)",
    "na.no_attribute": "not assessable: the units carry no `{column}` attribute",
    "na.no_column": "not assessable: the gazetteer has no {column} column",
    "na.total_study_only": "a city-wide total: compared for the whole study only",
    "na.not_comparable": "not comparable: the study is not the whole city and the study file gives no city "
                         "population ([targets] city_population); if the study is the whole city, write "
                         "[targets] whole_city = true",
    "total.whole_city": "the study is the whole city ([targets] whole_city = true): compared with the plan's total",
    "total.scaled": "scaled to the study's share of the city's residents: {value} x {pop} / {city} ({share})",
    "gap.affordable_slots": "needs {n} more slots made affordable",
    "gap.public_slots": "needs {n} more slots made public",
    "gap.nursing_beds": "needs {n} more beds made nursing-type",
    "gap.meal_points": "needs {n} more meal points",
    "rep.plan_total": "plan: {value} city-wide, scaled to the study's share of residents ({share})",
    "rep.floor_per_slot": "floor area per slot",
    "siting.too_small": "{preset} requires a new nursery of at least {min} slots ({source}); siting.slots = {slots} "
                        "is smaller: set [siting] slots to {min} or more",
    "siting.floor_ok": "{per} m² per slot, meets >= {min} m²",
    "siting.floor_short": "{per} m² per slot, below {min} m²",
    "status.fail": "fail",
    "status.no population": "no population",
    "worst.left_out": "{e} elderly and {i} infants beyond a {t}-min walk (coverage {ce} elderly, {ci} infants)",
    "worst.median": "median time to the nearest elderly service {te}, to childcare {ti}",
    "worst.unreached": "{n} elderly live on a road piece with no elderly service, or too far from a road",
    "worst.unreached_limit": "{n} elderly are beyond the {m}-min search limit, live on a road piece with no elderly service, or too far from a road",
    "worst.sep": "; ",
    "minutes": "{x} min",
    "unreachable": "unreachable",
    "beyond_limit": "> {m} min",
    "fig.xlabel": "walking time to the nearest service (min)",
    "fig.ylabel": "share of people reached",
    "fig.before": "now",
    "fig.after": "with new sites",
    "fig.left": "people beyond {t} min",
    "fig.bars": "Units leaving the most people out",
    "fig.north": "N",
    "fig.map": "{g} within a {t}-min walk",
    "fig.band": "walking speed {lo}–{hi} m/s",
    "rep.cov": "coverage",
    "rep.units": "Units",
    "rep.unit": "Unit",
    "rep.parent": "Street / district",
    "rep.sites": "Suggested new sites",
    "rep.pop": "Population cells",
    "rep.iso": "isochrones",
    "rep.worst": "Worst-covered units",
    "rep.targets": "Plan targets",
    "rep.measured": "measured",
    "rep.target": "target",
    "rep.status": "status",
    "rep.sources": "Data sources",
    "rep.min": "min",
    "rep.within_cov": "{g} {t}-min coverage",
    "rep.within": "{t} min",
    "rep.pair_walk": "also: share of people within walking reach {v}",
    "rep.pair_sfca": "also: reachable (2SFCA) {v}",
    "rep.gain": "newly covered",
    "rep.people": "people",
    "rep.illustrative": "The facility gazetteer is ILLUSTRATIVE (not real facilities): it shows the method only",
    "rep.kind": "kind",
    "rep.capacity": "capacity",
    "rep.address": "address",
    "rep.name": "name",
    "rep.summary": "Summary",
    "rep.estimated": "estimated",
    "rep.pass_fail": "pass/fail ({targets})",
    "rep.toggle": "hide/show",
    "rep.walk_speed": "Walking speed",
    "rep.population": "Population",
    "rep.network": "Network: {nodes} nodes, {edges} edges, {km} km, {pieces} pieces (largest {share} of nodes), {joins} joins",
    "rep.offroad_cells": "Cells farther than {m} m from a road: {n} ({people} people)",
    "rep.joint": "Joint elderly + infant sites",
    "rep.after": "After building",
    "rep.beds_unit": "beds",
    "rep.slots_unit": "slots",
    "rep.no_candidates": "every unit is already fully covered: no candidate site generated",
    "rep.credits": "Data sources and licences",
    "rep.roads": "Roads (base layer)",
    "rep.water": "Water (no population raster)",
    "rep.districts": "Street / district outlines",
    "rep.unit_names": "Unit names",
    "rep.site_named": "{name}",
    "site.near_in": "near {road} · {unit}",
    "site.near": "near {road}",
    "site.node": "road node {node}",
    "site.n": "site {n}",
    "rep.site_rank": "Suggested {kind} #{rank}",
    "rep.candidate": "Candidate site",
    "rep.sites_whatif": "Suggested sites (click to try, {n})",
    "rep.candidates": "Candidate sites (click to add/remove)",
    "rep.band_title": "Walking-speed sensitivity ({lo}–{hi} m/s)",
    "whatif.title": "What if we build here? (click sites on the map)",
    "whatif.help": "Click suggested sites or candidate sites to add or remove them; the figures below are recomputed at once for the chosen set (no internet needed).",
    "whatif.chosen": "{n} sites chosen",
    "whatif.chosen_one": "1 site chosen",
    "whatif.clear": "Clear",
    "whatif.suggested": "Use all suggested sites",
    "whatif.study": "Whole study",
    "whatif.now": "now",
    "whatif.after": "after",
    "whatif.units_changed": "Units whose coverage rises",
    "whatif.none": "No site chosen yet",
    "whatif.not_recomputed": "not recomputed in the page (see the after-building rows)",
    "whatif.units_fail": "{n} units fail",
    "whatif.export": "Export the chosen sites:",
    "whatif.link_bad": "{n} entries of the link not understood: left out",
    "print.north": "N",
    "print.date": "Printed",
    "legend.title": "Legend",
    "fig.key_facilities": "Existing facilities serving {g}",
    "fig.key_sites": "Suggested new site",
    "fig.key_nopop": "Unit with no population",
    "legend.site": "Suggested new site (number: rank; colour: its kind; click to add or remove it)",
    "legend.candidate": "Candidate site (click to add it to the what-if)",
    "legend.chosen": "Chosen candidate site",
    "legend.iso": "{t}-min walk from a facility (darker: nearer)",
    "legend.cov": "Units: share within {t} min; on the pass/fail layer, share of targets met",
    "legend.nopop": "Unit with no population",
    "legend.cells": "Population cells: elderly (purple) / infants (green), darker: more people",
    "warn.kg_places": "{places} places in the slots column of {kindergartens} kindergarten(s) are not counted as under-3 slots: a kindergarten counts only through its nursery-class (tuoban) column; its own places are for ages 3-6",
    "methods.kg_places": "Kindergartens: only their nursery-class (tuoban) places count as under-3 slots; {places} places in the slots column of {kindergartens} kindergarten(s) in this study are not counted (kindergarten places are for ages 3-6, not under-3 slots).",
    "rep.kg_not_counted": "not counted as under-3 slots: a kindergarten counts only its nursery-class (tuoban) places",
    "rep.places": "places (slots column of the file)",
    "equity.shortfall": "{n} people short of the study's share",
    "equity.title": "Equity: units by coverage decile",
    "equity.decile": "decile {d}",
    "equity.behind": "Units furthest behind",
    "equity.share": "coverage",
    "equity.people": "people beyond",
    "equity.note": "Units are ranked by {g} {t}-min coverage, lowest first, and cut into ten groups; each shows its people's pooled coverage.",
    "equity.slope": "Units that lose most of their {t}-min circle to slope",
    "equity.slope_item": "flat {flat} -> with slope {slope}, {n} people lose it",
    "credit.not_stated": "{file} (source not stated)",
    "credit.files": "{n} rasters {first} … {last}",
    "credit.tags": "GeoTIFF tags",
    "credit.network": "Roads",
    "credit.facilities": "Facilities",
    "credit.population": "Population",
    "credit.units": "Units",
    "credit.parents": "Street / district outlines",
    "credit.area": "Study area",
    "credit.dem": "Elevation (slope)",
    "methods.title": "Methods and rules",
    "methods.walk_speed": "Walking speed {v} m/s (elderly people and carers with infants), on every road piece and every off-road leg.",
    "methods.drive_speed": "Drive profile: speeds by road class (one-way streets one way only); the walk to and from the road at {v} m/s.",
    "methods.walk_roads": "Walkable roads: {allowed}. Road classes (OSM highway) not walked: {banned}; ways whose foot or access tag is {closes} are left out.",
    "methods.allowed": "every road class except those below (footways, paths, steps, pedestrian streets, residential streets, main roads ...); a way tagged foot={opens} is always walkable",
    "methods.allowed_plain": "every road class except those below (footways, paths, steps, pedestrian streets, residential streets, main roads ...)",
    "methods.walk_roads_gis": "Own centreline file: road class from column “{col}”; motorways and expressways are not walkable.",
    "methods.offroad": "Homes (population cell centres) and facilities walk in a straight line to the nearest road (the off-road leg), timed at walking speed; cells farther than {m} m from any road are not joined to the network, count as unreached, and are listed separately.",
    "methods.times": "Network times are exact shortest-path times (Dijkstra) from facilities to population cells; “{t}-min coverage” means the nearest facility of the kind is at most {t} minutes away.",
    "methods.search_none": "No search limit: every cell's time to its nearest facility is computed.",
    "methods.search_limit": "Search limit {m} min: times up to it are exact; a time past it reads “> {m} min” (beyond).",
    "methods.catchment": "2SFCA catchment {t} min; site candidates and their coverage use {s} min.",
    "methods.elderly": "Elderly: the sum of the age-band rasters aged {a} and over.",
    "methods.elderly_share": "Elderly (estimated): total × {share} (no age bands in the data).",
    "methods.infants": "Infants 0-3 (estimated): {r} × women aged 20-39 (no band under 5 in the data).",
    "methods.infants_band": "Infants under 3: the 0-4 band × 3/5 (ages 0, 1 and 2).",
    "methods.infants_share": "Infants (estimated): total × {share} (no age bands in the data).",
    "methods.total": "Residents (estimated): people aged 20+ / (1 − {u}) (no bands under 20 in the data).",
    "methods.total_bands": "Residents: the sum of all age-band rasters.",
    "methods.total_raster": "Residents: the total raster {f} (measured).",
    "methods.total_raster_bands": "Residents: the total raster {f} (measured); elderly and infants from the age-band rasters.",
    "col.pop_total.measured": "Residents",
    "col.pop_elderly.measured": "Elderly (60+)",
    "col.pop_infants.measured": "Infants 0-3",
    "col.pop_elderly.estimated": "Elderly (60+, estimated)",
    "col.pop_total.estimated": "Residents (estimated)",
    "col.pop_infants.estimated": "Infants 0-3 (estimated)",
    "warn.unit_repaired": "unit {unit} {name} had an invalid outline ({reason} at lon {lon}, lat {lat}) and was repaired: area enclosed {before}, after repair {after} m²; {dropped} m² are now in no unit, where {people} people live, now outside every unit; {hull} people live inside the outline's convex hull but in no unit (the outline may have been meant to hold them).",
    "warn.area_unmeasurable": "not measurable",
    "warn.no_unit_total": "after repairing {n} invalid unit(s), {inside} people of the study area lie in no unit; {dropped} people live in the parts the repair left out ({where}).",
    "warn.repair_left_out": "repairing {n} invalid unit(s) left out parts where {dropped} people live ({where}).",
    "warn.dropped_outside_area": "the study area is the union of the units, so they are outside it too",
    "warn.units_outside": "{n} unit(s) of the units file lie outside the study area and are left out: {names}",
    "warn.dropped_inside_area": "those inside the study area are counted above",
    "methods.ind.cov": "Coverage: people of the group whose walk to the nearest facility of the kind is within the threshold, over all people of the group; a unit with nobody of the group is “no population”, neither pass nor fail.",
    "methods.ind.inside": "Beds/slots inside: the capacity of facilities located in the unit per 1,000 of its people.",
    "methods.ind.sfca": "Reachable beds/slots (2SFCA, Luo & Wang 2003): each facility's capacity is shared over the people within {t} min of it, and a resident's reachable capacity is the sum of those shares, per 1,000; E2SFCA adds Gaussian distance decay.",
    "methods.ind.gap": "Gaps: share targets need “target × group − people covered” more people; per-1,000 targets need “(target − measured) × population / 1,000” more beds or slots; rounded up.",
    "methods.ind.worst": "The worst units are ranked by elderly plus infants beyond {t} min (people, not shares, so a sliver with a few residents does not come first).",
    "methods.speed_band": "Shaded band: coverage at walking speeds {lo}–{hi} m/s (on the walk profile every leg's time is proportional to 1/speed, so times are rescaled exactly).",
    "methods.whatif": "What-if: the {t}-min reach of every candidate site to every population cell is computed in the run (a sparse matrix); the page recomputes coverage and targets for the chosen sites, with no server.",
    "methods.slope": "Slope (elevation from {dem}): elevation is sampled along every road at most {step} m apart (bilinear), and each piece is walked at Tobler's hiking speed scaled to the flat {v} m/s: v = {v} x exp(-{k} x |g + {g0}|) / exp(-{k0}), g = rise / run of the piece, so up and down a slope differ; steps: the run at the flat speed plus the rise at {sv} m/s. Off-road legs and roads outside the DEM ({out} of road length) are walked at the flat speed. The 'flat ground' columns are the same shares without slope.",
    "brief.brief": "Planning brief",
    "brief.headline": "Headline figures",
    "brief.date": "Made on",
    "brief.units_fail": "units failing",
    "brief.gap": "gap",
    "brief.indicator": "indicator",
    "brief.unit": "unit",
    "brief.code": "code",
    "brief.parent": "in",
    "brief.why": "why",
    "brief.rank": "rank",
    "brief.kind": "kind",
    "brief.capacity": "capacity",
    "brief.lonlat": "lon, lat (WGS84)",
    "brief.figures": "Figures",
    "brief.after": "After the suggested sites",
    "brief.none": "none",
    "brief.targets_pass": "targets met",
    "brief.sites_n": "{n} new sites suggested: {kinds}",
    "brief.cov_line": "{g} within a {t}-min walk: {v}",
    "brief.pop_line": "Population {total}: elderly {e}, infants {i}",
    "brief.page": "page {n}",
    "brief.figure.coverage_curve": "Coverage by walking time",
    "brief.figure.units_left_out": "People left out, by unit",
    "brief.figure.map_elderly": "Elderly coverage within {t} min (with the suggested sites)",
    "brief.figure.map_infants": "Infant coverage within {t} min (with the suggested sites)",
}

for _k, _v in KINDS.items():
    ZH[f"kind.{_k}"] = _v.zh
    EN[f"kind.{_k}"] = _v.en

CATALOGUE = {"zh": ZH, "en": EN}


def t(key: str, lang: str = "zh", **fields) -> str:
    """The string ``key`` in ``lang``, with ``{fields}`` filled in.

    Numbers are formatted by the caller (``n=f"{x:,.0f}"``) so both languages agree.
    """
    if lang not in CATALOGUE:
        raise ValueError(f"language {lang!r}: use zh or en")
    text = CATALOGUE[lang][key]
    return text.format(**fields) if fields else text


def kind_name(kind: str, lang: str = "zh", *, lower: bool = False) -> str:
    """A facility kind's display name (``kind.<key>``), or the key itself when unknown."""
    key = f"kind.{kind}"
    if key not in CATALOGUE[lang]:
        return kind
    name = t(key, lang)
    return name[0].lower() + name[1:] if lower and lang == "en" else name


def indicator_labels(preset: dict, lang: str = "zh") -> dict[str, str]:
    """Indicator id -> its label in ``lang`` (the preset's ``label_<lang>``; the id when it has none)."""
    return {i["id"]: i.get(f"label_{lang}") or i["id"] for i in preset["indicators"]}


def site_label(road: str, unit: str, lang: str = "zh", *, node=None, index: int | None = None) -> str:
    """A suggested site's name in ``lang`` from where it is (data in no language,
    :func:`circles.siting.site_name_parts`): ``"和平大道 旁 · 江汉区 C03"`` / ``"near 和平大道 · 江汉区 C03"``,
    the unit alone when no named road is near, else the road node or the site's number."""
    road, unit = str(road or "").strip(), str(unit or "").strip()
    if road:
        return t("site.near_in", lang, road=road, unit=unit) if unit else t("site.near", lang, road=road)
    if unit:
        return unit
    if node is not None and not (isinstance(node, float) and math.isnan(node)):
        return t("site.node", lang, node=node)
    return t("site.n", lang, n=index) if index is not None else ""


def pct(x) -> str:
    """``0.383 -> "38%"`` (whole percent, as in the worst-unit texts); ``–`` for none."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0%}"


def minutes(x, lang: str = "zh", limit_min: float | None = None) -> str:
    """A time in minutes (one decimal); past the run's search limit "> limit", else "unreachable"."""
    if x is not None and math.isinf(float(x)) and limit_min is not None:
        return t("beyond_limit", lang, m=f"{limit_min:g}")
    if x is None or not math.isfinite(float(x)):
        return t("unreachable", lang)
    return t("minutes", lang, x=f"{float(x):.1f}")


def gap_text(gap: float, kind: str, lang: str = "zh") -> str:
    """``gap_text(420, "slots", "en") == "needs 420 more slots"``."""
    return t(f"gap.{kind}", lang, n=f"{gap:,.0f}")


def worst_why(row, tmax: float, lang: str = "zh", limit_min: float | None = None) -> str:
    """Why a unit is among the worst, from its coverage-table row (a mapping of columns);
    ``limit_min``: the run's search limit (a median past it reads "> limit")."""
    g = f"{tmax:g}"
    be, bi = float(row.get(f"beyond_elderly_{g}min") or 0), float(row.get(f"beyond_infants_{g}min") or 0)
    parts = [t("worst.left_out", lang, e=f"{be:,.0f}", i=f"{bi:,.0f}", t=g,
               ce=pct(row.get(f"cov_elderly_any_{g}min")), ci=pct(row.get(f"cov_infants_any_{g}min"))),
             t("worst.median", lang, te=minutes(row.get("time_elderly_median_min"), lang, limit_min),
               ti=minutes(row.get("time_infants_median_min"), lang, limit_min))]
    unreached = row.get("unreached_elderly", 0)
    if unreached is not None and float(unreached) > 0:
        parts.append(t("worst.unreached", lang, n=f"{float(unreached):,.0f}") if limit_min is None
                     else t("worst.unreached_limit", lang, n=f"{float(unreached):,.0f}", m=f"{limit_min:g}"))
    return t("worst.sep", lang).join(parts)


def relang(text: str, lang: str, prefixes=("na.",)) -> str:
    """A catalogue-made sentence (e.g. a not-assessable reason saved in the run's language) in ``lang``.

    The sentence is matched against the templates of the keys under ``prefixes`` in every
    language; its fields are carried over (kind names given as ``name (key)`` are named again
    in ``lang``). Text that no template makes is returned unchanged (it is data, or free text).
    """
    import re

    for key in CATALOGUE[lang]:
        if not key.startswith(prefixes):
            continue
        for other in LANGUAGES:
            template = CATALOGUE[other][key]
            pattern = re.escape(template)
            for field in {f for _, f, _, _ in __import__("string").Formatter().parse(template) if f}:
                pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>.+?)")
            m = re.fullmatch(pattern, text)
            if m:
                fields = m.groupdict()
                if "names" in fields:
                    keys = re.findall(r"\((\w+)\)", fields["names"])
                    if keys:
                        fields["names"] = "/".join(f"{kind_name(k, lang)} ({k})" for k in keys)
                return t(key, lang, **fields)
    return text

