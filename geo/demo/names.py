"""Chinese names for streets, communities, roads, places and grid workers."""

from __future__ import annotations

import numpy as np

STREET_STEMS = [
    "车站", "公园", "和平", "科苑", "体育场", "杏园", "马尚", "南定", "沣水", "房镇",
    "湖田", "中埠", "卫固", "傅家", "四宝山", "东风", "新华", "向阳", "金山", "北海",
    "齐都", "稷下", "闻韶", "雪宫", "辛店", "凤凰", "般阳", "松龄", "将军路", "昆仑",
]
COMMUNITY_STEMS = [
    "华光", "共青团", "人民", "柳泉", "西二", "东一", "金晶", "丽景", "银座", "花园",
    "兴学", "新村", "城中", "双山", "泰和", "鲁中", "齐园", "北苑", "南苑", "东苑",
    "西苑", "明珠", "世纪", "安乐", "福泰", "嘉园", "锦绣", "康乐", "翠竹", "绿洲",
    "长安", "商场", "山泉", "西王", "东营", "李家", "张家", "王庄", "刘庄", "赵村",
    "孙家", "周家", "吴家", "郑家", "冯家", "陈家", "褚家", "卫家", "蒋家", "沈家",
    "韩家", "杨家", "朱家", "秦家", "许家", "何家", "吕家", "施家", "孔家", "曹家",
    "华侨", "幸福", "和谐", "平安", "景泰", "瑞丰", "富华", "昌国", "晨光", "春晖",
    "颐和", "润泽", "星河", "海月", "枫林", "桂苑", "荷塘", "松园", "梅园", "兰亭",
]
ROAD_STEMS = [
    "柳泉", "华光", "共青团", "人民", "新村", "金晶", "昌国", "联通", "中润", "鲁泰",
    "西五", "西六", "北京", "上海", "天津", "重庆", "南京", "杭州", "苏州", "济南",
    "青岛", "烟台", "潍坊", "淄川", "临淄", "博山", "周村", "桓台", "高青", "沂源",
    "世纪", "西三", "东二", "东四", "华侨", "裕民", "兴学", "杏园", "美食", "齐鲁",
    "黄河", "泰山", "嵩山", "华山", "衡山", "恒山", "长江", "淮河", "珠江", "松花江",
]
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于"
                "董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志海燕鹏飞宇浩凯晨欣悦婷")
SUBCATEGORIES = {
    "dispute": ["邻里纠纷", "家庭纠纷", "物业纠纷", "劳资纠纷", "婚恋纠纷", "土地纠纷"],
    "public_order": ["噪音扰民", "打架斗殴", "盗窃", "醉酒滋事", "可疑人员", "聚众"],
    "hazard": ["消防隐患", "燃气隐患", "高空坠物", "电动车违规充电", "危房", "井盖缺失"],
    "livelihood": ["供水", "供暖", "供电", "物业服务", "教育", "医疗"],
    "city_management": ["占道经营", "乱堆乱放", "违章搭建", "环境卫生", "路灯损坏", "违规停车"],
    "other": ["政策咨询", "意见建议", "表扬", "其他"],
}


def unique_names(rng: np.random.Generator, stems: list[str], n: int, suffix: str) -> list[str]:
    """``n`` distinct names from stems (numbered once the stems run out)."""
    order = rng.permutation(len(stems))
    names = []
    for i in range(n):
        stem = stems[order[i % len(stems)]]
        rnd = i // len(stems)
        names.append(f"{stem}{'' if rnd == 0 else str(rnd + 1)}{suffix}")
    return names


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` plausible Chinese personal names (two or three characters)."""
    sur = rng.choice(SURNAMES, n)
    g1 = rng.choice(GIVEN, n)
    g2 = rng.choice(GIVEN, n)
    three = rng.random(n) < 0.6
    return [s + a + (b if t else "") for s, a, b, t in zip(sur, g1, g2, three, strict=True)]
