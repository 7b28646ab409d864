"""The demo's words: names, and what each kind of visit's record says.

Shared by the demo clinic (:mod:`.data`) and the chain's history (:mod:`.history`);
everything random takes the caller's seeded ``random.Random``, so a load is
deterministic.
"""

from __future__ import annotations

import random
from datetime import date

from pypinyin import Style, lazy_pinyin

from his_portal.models import MedicalRecord, Patient, Sex

__all__ = ["VISITS", "pinyin_key", "random_patient", "random_record"]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
    "彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金"
    "石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华建国"
    "志红晓梅玉兰海燕雪婷思雨子涵浩然宇轩欣怡梓萱一诺佳怡俊杰"
)

# visit item -> (title, complaints, examinations, diagnoses, plans, treatments, advice)
VISITS = {
    "检查": (
        "口腔检查",
        ["定期口腔检查", "刷牙时牙龈出血", "左下后牙咀嚼痛"],
        ["全口牙列完整，牙石(+)", "36咬合面深龋，探诊(+)", "牙龈红肿，BOP(+)"],
        ["慢性牙龈炎", "36深龋", "牙列缺损"],
        ["全口洁治，定期复查", "36充填治疗"],
        ["口腔健康宣教", "拍摄全景片"],
        ["早晚刷牙，使用牙线", "半年复查"],
    ),
    "洁牙": (
        "洁治",
        ["牙齿有黑色色素", "口腔异味，牙龈出血"],
        ["全口牙石(++)，色素沉着", "龈缘红肿，探诊出血"],
        ["慢性牙周炎（轻度）", "牙龈炎"],
        ["龈上洁治+抛光", "牙周基础治疗"],
        ["超声龈上洁治，喷砂抛光", "全口洁治，3%双氧水冲洗"],
        ["一周内避免深色食物", "使用软毛牙刷，巴氏刷牙法"],
    ),
    "补牙": (
        "充填治疗",
        ["右上后牙食物嵌塞", "冷热刺激酸痛", "前牙缺损"],
        ["16近中邻面龋，探(+)，冷(+)", "46咬合面中龋", "11切角缺损"],
        ["16中龋", "46中龋", "11牙体缺损"],
        ["树脂充填", "嵌体修复"],
        ["去腐，垫底，树脂分层充填，调合抛光", "局麻去腐，玻璃离子垫底，树脂充填"],
        ["2小时后进食", "如有不适及时复诊"],
    ),
    "根管治疗": (
        "根管治疗",
        ["右下后牙夜间自发痛", "牙齿咬合痛三天"],
        ["46叩(+)，冷测无反应，X线示根尖低密度影", "26深龋露髓，叩(±)"],
        ["46慢性根尖周炎", "26急性牙髓炎"],
        ["46根管治疗后全冠修复", "26根管治疗"],
        ["局麻下开髓拔髓，根管预备，氢氧化钙封药", "根管充填，X线示恰填"],
        ["勿用患侧咀嚼硬物", "一周后复诊"],
    ),
    "拔牙": (
        "拔牙",
        ["智齿反复肿痛", "残根要求拔除"],
        ["48近中阻生，冠周红肿", "25残根，松动Ⅱ度"],
        ["48阻生齿伴冠周炎", "25残根"],
        ["拔除48", "拔除25后种植修复"],
        ["局麻下拔除48，缝合2针", "局麻下拔除25，搔刮牙槽窝"],
        ["咬棉球40分钟，24小时内勿漱口", "一周后拆线"],
    ),
    "正畸": (
        "正畸复诊",
        ["牙列不齐，要求矫正", "咬合不适"],
        ["上下牙列拥挤，前牙深覆合", "安氏Ⅱ类错颌"],
        ["牙列拥挤", "安氏Ⅱ类错颌"],
        ["隐形矫治", "固定矫治"],
        ["口扫取模，制定矫治方案", "更换弓丝，加力"],
        ["每天佩戴矫治器22小时", "一月后复诊"],
    ),
    "种植": (
        "种植修复",
        ["下颌后牙缺失要求修复", "种植术后复查"],
        ["36缺失，牙槽骨宽度良好", "种植体稳定，牙龈愈合良好"],
        ["牙列缺损", "种植术后"],
        ["36种植修复", "上部结构修复"],
        ["局麻下植入种植体一枚", "取模，比色"],
        ["术后冷敷，按时服药", "保持口腔卫生"],
    ),
    "美学修复": (
        "美学修复",
        ["前牙变色影响美观", "牙缝大要求改善"],
        ["11、21氟斑牙", "11、21间隙约2mm"],
        ["氟斑牙", "前牙间隙"],
        ["全瓷贴面修复", "树脂美学修复"],
        ["牙体预备，取模，临时贴面", "比色，树脂关闭间隙"],
        ["避免咬硬物", "两周后试戴"],
    ),
    "儿牙": (
        "儿童牙科",
        ["乳牙龋坏", "窝沟封闭"],
        ["74、84深龋", "六龄牙窝沟深"],
        ["乳牙龋病", "窝沟易龋"],
        ["乳牙充填", "窝沟封闭"],
        ["去腐，玻璃离子充填", "36、46窝沟封闭"],
        ["少吃甜食", "三个月复查"],
    ),
}


def pinyin_key(name: str) -> str:
    """Full pinyin and initials, e.g. 刘作榛 -> "liuzuozhen lzz", for header search."""
    full = "".join(lazy_pinyin(name))
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER))
    return f"{full} {initials}".lower()


def random_patient(rng: random.Random, *, record_no: str, clinic_id: int) -> Patient:
    """A patient with a random name, sex, birth date and mobile."""
    name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))
    return Patient(
        record_no=record_no,
        name=name,
        name_pinyin=pinyin_key(name),
        sex=rng.choice(list(Sex)),
        birth_date=date(
            rng.randint(1950, 2018), rng.randint(1, 12), rng.randint(1, 28)
        ),
        phone=f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
        clinic_id=clinic_id,
    )


def random_record(rng: random.Random, visit_item: str, **fields) -> MedicalRecord:
    """A record of ``visit_item`` with text picked from :data:`VISITS`; ``fields``
    set the rest (and may override the title and chief complaint)."""
    title, complaints, exams, diagnoses, plans, treatments, advice = VISITS[visit_item]
    return MedicalRecord(
        visit_item=visit_item,
        title=fields.pop("title", None) or title,
        chief_complaint=fields.pop("chief_complaint", None) or rng.choice(complaints),
        present_illness="患者自述症状持续，未经治疗，无明显全身不适。",
        past_history=rng.choice(
            ["否认系统性疾病史，否认药物过敏史。", "高血压病史，规律服药。"]
        ),
        examination=rng.choice(exams),
        diagnosis=rng.choice(diagnoses),
        treatment_plan=rng.choice(plans),
        treatment=rng.choice(treatments),
        advice=rng.choice(advice),
        **fields,
    )
